import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Config } from './types.js';

/** What `inference-proxy --check-config` prints and its exit code. */
export interface CheckReport {
  readonly code: 0 | 2;
  /** The one line of the verdict (stdout when good, stderr when not). */
  readonly line: string;
  /** Warnings, one line each (stderr). */
  readonly warnings: readonly string[];
}

const hostPort = (host: string, port: number): string => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

/** Null when `host` is an address or a name the system resolves; else why not, in a few words. */
async function unresolvable(host: string): Promise<string | null> {
  if (isIP(host) !== 0) return null;
  try {
    await lookup(host);
    return null;
  } catch (err) {
    return `cannot resolve ${JSON.stringify(host)} (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
  }
}

/**
 * --check-config: the configuration was built and validated as for a start (flags, environment, file);
 * what is left is what a start would find out only when it listens: whether the host names resolve. It
 * binds nothing, so that it can run beside the proxy it checks a new file for. The verdict line says
 * where the proxy would listen and how many workers it would run, for scripts (proxy_ctl.sh) to read.
 */
export async function checkConfig(config: Config, warnings: readonly string[]): Promise<CheckReport> {
  const hosts: Array<[string, string]> = [['host', config.host]];
  if (config.metricsPort !== null) hosts.push(['metrics-host', config.metricsHost]);
  for (const [flag, host] of hosts) {
    const problem = await unresolvable(host);
    if (problem !== null) return { code: 2, line: `inference-proxy: --${flag}: ${problem}`, warnings };
  }
  const metrics = config.metricsPort === null ? 'metrics port off' : `metrics on ${hostPort(config.metricsHost, config.metricsPort)}`;
  const backends = config.backends.map((backend) => backend.url).join(', ');
  const line = `inference-proxy: configuration OK: listen ${hostPort(config.host, config.port)}, ${config.workers} workers, ${metrics}, ${config.backends.length} backends: ${backends}`;
  return { code: 0, line, warnings };
}
