import type { ServerResponse } from 'node:http';
import { dashboardHtml } from './dashboard-page.js';
import { inlineModules } from './inline-modules.js';

/** The page's script as `npm run build` compiled it (src/dashboard/page/tsconfig.json); the Docker image copies it with dist/src. */
export const DASHBOARD_SCRIPT_ENTRY = new URL('./browser/dashboard/page/main.js', import.meta.url);

interface Page {
  readonly status: number;
  readonly contentType: string;
  readonly bytes: Buffer;
}

// Built once per process, at startup.
const PAGE = buildPage();

export function sendDashboard(res: ServerResponse, head: boolean): void {
  res.writeHead(PAGE.status, {
    'content-type': PAGE.contentType,
    'content-length': PAGE.bytes.length,
    'cache-control': 'no-cache',
    // Everything the page needs is inline; it may only talk back to this origin.
    'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
  });
  res.end(head ? undefined : PAGE.bytes);
}

function buildPage(): Page {
  try {
    return {
      status: 200,
      contentType: 'text/html; charset=utf-8',
      bytes: Buffer.from(dashboardHtml(inlineModules(DASHBOARD_SCRIPT_ENTRY))),
    };
  } catch (err) {
    // `tsc -p .` alone does not build the page: the proxy still proxies, and the page says what to run.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return { status: 500, contentType: 'text/plain', bytes: Buffer.from('the dashboard page is not built: run `npm run build`\n') };
  }
}
