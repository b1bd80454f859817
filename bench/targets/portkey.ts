import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../support/ports.js';
import { ROOT } from '../../support/processes.js';
import { pkgVersion } from '../report/pkg-version.js';
import { type Server, startChild } from './start-child.js';

/** The npm package's own Node entry (`npx @portkey-ai/gateway` runs the same file). */
const PORTKEY_ENTRY = join(ROOT, 'node_modules/@portkey-ai/gateway/build/start-server.js');
/** It prints this (after a one-second spinner) once it listens; it prints no JSON. */
const READY_TEXT = 'Ready for connections';

export const PORTKEY_ABOUT = `the Portkey gateway ${pkgVersion('@portkey-ai/gateway')} (npm \`@portkey-ai/gateway\`, its own \`build/start-server.js --headless\`, @hono/node-server ${pkgVersion('@hono/node-server')}), 1 process; every request carries \`x-portkey-provider: openai\`, \`x-portkey-custom-host: <backend>/v1\` and \`x-portkey-forward-headers: x-mock-ttft-ms,x-mock-token-delay-ms\` (else it drops the mock's pacing headers); it serves /v1/* only, and delays each stream's first event by 25 ms by design`;

/**
 * What every request through Portkey carries: the provider and where it is. The custom host is the backend's
 * /v1 root; Portkey appends the OpenAI path (`/chat/completions`, `/models`) to it.
 */
export function portkeyHeaders(backendUrl: string): Record<string, string> {
  return {
    'x-portkey-provider': 'openai',
    'x-portkey-custom-host': `${backendUrl}/v1`,
    // Portkey forwards only the headers it knows unless told: without this the mock's per-request pacing is
    // dropped and every stream comes back unpaced, in one burst.
    'x-portkey-forward-headers': MOCK_PACING_HEADERS,
  };
}

const MOCK_PACING_HEADERS = 'x-mock-ttft-ms,x-mock-token-delay-ms';

/**
 * The Portkey gateway (npm `@portkey-ai/gateway`) on a free port, `--headless` (no UI routes). It has no host
 * flag and listens on every interface; the bench only talks to it on loopback. Its only outbound connections
 * are to the custom host each request names (bench/README.md, "Portkey").
 */
export async function startPortkey(name: string, logPath: string, node: string = process.execPath): Promise<Server> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const probe = (): string | null => (logText(logPath).includes(READY_TEXT) ? url : null);
  return startChild({ name, file: node, args: [PORTKEY_ENTRY, `--port=${port}`, '--headless'], logPath, probe });
}

function logText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
