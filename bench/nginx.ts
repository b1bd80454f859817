import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { accepts, freePort, type Server, startChild } from './targets.js';

const TEMPLATE = fileURLToPath(new URL('../../bench/nginx/nginx.conf.template', import.meta.url));

export const NGINX_INSTALL_HINT =
  'nginx not found on PATH: the nginx columns are skipped. Install it with `apt-get install -y nginx-light` (Debian/Ubuntu, as root) and run the bench again.';

/** The nginx binary and its version line, or null when it is not installed. */
export function findNginx(): { path: string; version: string } | null {
  for (const path of ['nginx', '/usr/sbin/nginx']) {
    // nginx -v prints `nginx version: nginx/1.x.y` to stderr.
    const result = spawnSync(path, ['-v'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const match = /nginx version: (\S+)/.exec(`${result.stderr ?? ''}${result.stdout ?? ''}`);
    if (result.error === undefined && match !== null) return { path, version: match[1]! };
  }
  return null;
}

export interface NginxOptions {
  workers: number;
  /** Write the default `combined` access log, unbuffered, to a file in the prefix (our proxy logs every request too). */
  accessLog: boolean;
}

/**
 * Runs nginx in the foreground (`daemon off`, master + workers in one process group) with a config generated
 * from bench/nginx/nginx.conf.template in a fresh prefix directory under `dir`.
 */
export async function startNginx(
  binary: string,
  name: string,
  backendUrl: string,
  dir: string,
  options: NginxOptions,
): Promise<Server & { config: string }> {
  const prefix = join(dir, name);
  mkdirSync(prefix, { recursive: true });
  // The workers run as an unprivileged user when the master is root: they must reach the prefix.
  chmodSync(dir, 0o755);
  chmodSync(prefix, 0o755);
  const port = await freePort();
  const backend = new URL(backendUrl);
  const logPath = join(prefix, 'error.log');
  const accessLogPath = options.accessLog ? join(prefix, 'access.log') : null;
  const fields: Record<string, string> = {
    WORKERS: String(options.workers),
    PREFIX: prefix,
    ACCESS_LOG: accessLogPath === null ? 'access_log off;' : `access_log ${accessLogPath} combined;`,
    BACKEND: backend.host,
    LISTEN: `127.0.0.1:${port}`,
  };
  // The template's error_log is {{PREFIX}}/error.log, i.e. logPath: startup errors (-e) and runtime ones in one file.
  const config = readFileSync(TEMPLATE, 'utf8').replace(/\{\{(\w+)\}\}/g, (whole, key: string) => fields[key] ?? whole);
  const confPath = join(prefix, 'nginx.conf');
  writeFileSync(confPath, config);
  const args = ['-p', `${prefix}/`, '-c', confPath, '-e', logPath, '-g', 'daemon off;'];
  const url = `http://127.0.0.1:${port}`;
  const server = await startChild(name, binary, args, logPath, async () => ((await accepts(port)) ? url : null), accessLogPath);
  return { ...server, config };
}
