import type { ServerResponse } from 'node:http';
import { DASHBOARD_HTML } from './dashboard-page.js';

const DASHBOARD_BYTES = Buffer.from(DASHBOARD_HTML);

export function sendDashboard(res: ServerResponse, head: boolean): void {
  res.writeHead(200, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': DASHBOARD_BYTES.length,
    'cache-control': 'no-cache',
    // Everything the page needs is inline; it may only talk back to this origin.
    'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
  });
  res.end(head ? undefined : DASHBOARD_BYTES);
}
