import { buildConfig } from '../config/build-config.js';
import type { Config } from '../config/types.js';
import type { Logger } from '../shared/logger.js';

/** Settings tied to the listening sockets and the worker slots: only a restart changes them. */
const RESTART_ONLY = [
  'host',
  'port',
  'workers',
  'clusterScheduling',
  'metricsPort',
  'metricsHost',
  'maxInFlightPerWorker',
  'redisUrl',
  'redisTimeoutMs',
  'redisFailure',
] as const;

/**
 * The configuration a reload (SIGHUP) puts in force: the command line the proxy was started with, the
 * environment and the --config file read again. When it is invalid, the running configuration stays and
 * `error` is the one line that names the problem (logged at error level with the generation in force).
 * Settings that only a restart can change keep their running values (with a warning naming them).
 */
export async function reloadedConfig(
  current: Config,
  argv: readonly string[],
  log: Logger,
  generation: number,
): Promise<{ config: Config } | { error: string }> {
  const result = await buildConfig(argv);
  if (result.kind === 'exit') {
    const problem = result.output.replace(/^inference-proxy: /, '');
    log.error({ problem, generation }, 'configuration reload failed, keeping the running configuration');
    return { error: problem };
  }
  for (const problem of result.warnings) log.warn({ problem }, 'configuration warning');
  const next = result.config;
  const kept = RESTART_ONLY.filter((key) => JSON.stringify(next[key]) !== JSON.stringify(current[key]));
  // The per-worker share of --max-in-flight follows --workers; report what the operator changed.
  const named = kept.filter((key) => key !== 'maxInFlightPerWorker');
  if (named.length > 0) log.warn({ settings: named }, 'these settings change only with a restart; keeping their running values');
  if (kept.length === 0) return { config: next };
  const restored: Record<string, unknown> = { ...next };
  for (const key of kept) restored[key] = current[key];
  return { config: Object.freeze(restored) as unknown as Config };
}
