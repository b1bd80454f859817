import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../support/ports.js';
import { run } from '../../support/processes.js';
import { type Server, startChild } from './start-child.js';

const TEMPLATE = fileURLToPath(new URL('../../../bench/targets/nginx/nginx.conf.template', import.meta.url));

export const NGINX_INSTALL_HINT =
  'nginx not found on PATH: the nginx columns are skipped. Install it with `apt-get install -y nginx-light` (Debian/Ubuntu, as root) and run the bench again.';

const VERSION_TIMEOUT_MS = 5_000;

export interface Nginx {
  path: string;
  version: string;
}

/** The nginx binary and its version line, or null when it is not installed. */
export async function findNginx(): Promise<Nginx | null> {
  for (const path of ['nginx', '/usr/sbin/nginx']) {
    try {
      const result = await run(path, ['-v'], {}, VERSION_TIMEOUT_MS);
      // nginx -v prints `nginx version: nginx/1.x.y` to stderr.
      const match = /nginx version: (\S+)/.exec(`${result.stderr}${result.stdout}`);
      if (match !== null) return { path, version: match[1]! };
    } catch {
      // ENOENT: not at this path
    }
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
 * from bench/targets/nginx/nginx.conf.template in a fresh prefix directory under `dir`.
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
  const probe = async (): Promise<string | null> => ((await accepts(port)) ? url : null);
  const server = await startChild({ name, file: binary, args, logPath, probe, accessLogPath });
  return { ...server, config };
}

/** True once something accepts TCP connections on 127.0.0.1:port (nginx prints nothing when it is ready). */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
