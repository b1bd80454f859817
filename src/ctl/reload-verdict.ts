import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';

/**
 * `node dist/src/ctl/reload-verdict.js <proxy base URL> <primary pid> <timeout s>`: what `proxy_ctl.sh
 * reload` runs. Sends SIGHUP to the primary and waits for its verdict in /healthz (`config`): the reload
 * counter past the one read before the signal, and a result other than `restarting`. Exit 0 applied, 6
 * rejected (the running configuration stays) or failed (workers not all replaced), 4 no verdict in time.
 */
const REQUEST_TIMEOUT_MS = 2_000;
const POLL_MS = 200;
const EXIT_REFUSED = 6;
const EXIT_UNKNOWN = 4;

interface ConfigHealth {
  generation: number;
  reloads: number;
  lastReload: { result: string; error: string | null } | null;
}

/** The `config` part of /healthz (200, or 503 when no backend is up: the proxy still answers), or null. */
async function configOf(base: string): Promise<ConfigHealth | null> {
  try {
    const res = await request(`${base}/healthz`, {
      headersTimeout: REQUEST_TIMEOUT_MS,
      bodyTimeout: REQUEST_TIMEOUT_MS,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const body = (await res.body.json()) as { config?: ConfigHealth };
    return body.config ?? null;
  } catch {
    return null;
  }
}

async function main(): Promise<number> {
  const [base, pidText, timeoutText] = process.argv.slice(2);
  const pid = Number(pidText);
  const timeoutMs = Number(timeoutText) * 1000;
  if (base === undefined || !Number.isInteger(pid) || !(timeoutMs > 0)) {
    console.error('usage: reload-verdict <proxy base URL> <primary pid> <timeout s>');
    return 2;
  }
  const before = await configOf(base);
  process.kill(pid, 'SIGHUP');
  if (before === null) {
    console.error(`inference-proxy: SIGHUP sent to pid ${pid}, but ${base}/healthz does not answer: the reload's verdict is unknown`);
    return EXIT_UNKNOWN;
  }
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    await sleep(POLL_MS);
    const now = await configOf(base);
    const last = now?.lastReload;
    if (now === null || now.reloads <= before.reloads || last == null || last.result === 'restarting') continue;
    if (last.result === 'applied') {
      console.log(`reloaded inference-proxy (pid ${pid}): configuration generation ${now.generation} in force, every worker replaced`);
      return 0;
    }
    if (last.result === 'rejected') {
      console.error(`inference-proxy: reload rejected, generation ${now.generation} still in force: ${last.error}`);
    } else {
      console.error(`inference-proxy: reload ${last.result}: generation ${now.generation} in force, but ${last.error}`);
    }
    return EXIT_REFUSED;
  }
  console.error(`inference-proxy: SIGHUP sent to pid ${pid}, no verdict in /healthz within ${timeoutMs / 1000} s (see the log)`);
  return EXIT_UNKNOWN;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`inference-proxy: reload: ${(err as Error).message}`);
    process.exit(1);
  },
);
