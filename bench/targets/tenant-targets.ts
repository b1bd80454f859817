/**
 * The cost of the keys' limits (issue "tenants"): the same proxy-1w with one named key and no limits
 * (limits off), with limits that are never reached (every request is admitted by the primary over IPC),
 * and with the same limits shared through a local redis-server (leases from Redis). Each request carries
 * the key. The limits are far above what the bench sends, so nothing is refused: what is measured is
 * admission, settling and the headers, not rejections.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../../support/ports.js';
import { type Server, startChild } from './start-child.js';
import type { TargetDef } from './target-defs.js';
import { startProxy } from './targets.js';

export const KEY_TARGET = 'proxy-1w-key';
export const LIMITS_TARGET = 'proxy-1w-limits';
export const LIMITS_REDIS_TARGET = 'proxy-1w-limits-redis';
export const TENANT_TARGETS = [KEY_TARGET, LIMITS_TARGET, LIMITS_REDIS_TARGET] as const;

const BENCH_KEY = 'bench-key';
/** rpm 6,000,000 (100,000 a second), tpm 600,000,000, 10,000 in progress, a budget of 10^12 tokens a month. */
const LIMITS = ['    rpm: 6000000', '    tpm: 600000000', '    max_parallel: 10000', '    budget: {tokens: 1000000000000, per: month}'];
export const REDIS_INSTALL_HINT = 'redis-server not found: the proxy-1w-limits-redis target is skipped (apt-get install redis-server)';

function configFile(dir: string, name: string, limited: boolean): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(path, ['keys:', '  - name: bench', `    key: ${BENCH_KEY}`, ...(limited ? LIMITS : []), ''].join('\n'));
  return path;
}

const headers = (): Record<string, string> => ({ authorization: `Bearer ${BENCH_KEY}` });

/** The three targets, for small, chat and overhead; without redis-server the third is left out (with a hint). */
export function tenantTargetDefs(dir: string, prefix: string, hasRedis: boolean): TargetDef[] {
  const proxy =
    (name: string, limited: boolean, extraArgs: readonly string[] = []) =>
    (b: Server) =>
      startProxy({
        name: `${prefix}${name}`,
        backendUrl: b.url,
        workers: 1,
        logPath: join(dir, `${prefix}${name}.log`),
        extraArgs: ['--config', configFile(dir, `${prefix}${name}`, limited), ...extraArgs],
      });
  const defs: TargetDef[] = [
    {
      name: KEY_TARGET,
      about: 'proxy-1w with one named key without limits, sent on every request (limits off)',
      headers,
      start: proxy(KEY_TARGET, false),
      only: ['small', 'chat'],
    },
    {
      name: LIMITS_TARGET,
      about: `${KEY_TARGET} with rpm, tpm, max_parallel and a budget on the key, never reached: leased from the primary by the worker, admitted and settled in the worker, x-ratelimit headers (limits on, no Redis)`,
      headers,
      start: proxy(LIMITS_TARGET, true),
      only: ['small', 'chat'],
    },
  ];
  if (!hasRedis) return defs;
  defs.push({
    name: LIMITS_REDIS_TARGET,
    about: `${LIMITS_TARGET} with \`--redis-url\` to a local redis-server (no persistence) the bench starts: the limits leased from Redis (redis-server's own CPU is not in the proxy's figure)`,
    headers,
    only: ['small', 'chat'],
    start: async (b) => {
      const redis = await startRedis(join(dir, `${prefix}redis.log`));
      try {
        const started = await proxy(LIMITS_REDIS_TARGET, true, ['--redis-url', redis.url])(b);
        return { ...started, stop: async () => (await Promise.all([started.stop(), redis.stop()]))[0] };
      } catch (err) {
        await redis.stop();
        throw err;
      }
    },
  });
  return defs;
}

/** A redis-server on a free loopback port, without persistence. */
async function startRedis(logPath: string): Promise<Server> {
  const port = await freePort();
  return startChild({
    name: 'redis-server',
    file: 'redis-server',
    args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    logPath,
    probe: () => ping(port).then((ok) => (ok ? `redis://127.0.0.1:${port}` : null)),
  });
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(1000, () => socket.destroy());
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.end();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
    socket.once('close', () => resolve(false));
  });
}

/** Whether redis-server is on PATH (checked once, synchronously: the target list is built synchronously). */
export function hasRedisServer(): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => dir !== '' && existsSync(join(dir, 'redis-server')));
}
