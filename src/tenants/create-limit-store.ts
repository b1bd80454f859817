import type { Counter } from 'prom-client';
import type { Config } from '../config/types.js';
import type { Logger } from '../shared/logger.js';
import type { LimitStore } from './limit-store.js';
import { LocalStore } from './local-store.js';
import { RedisStore } from './redis-store.js';

/** The primary's store of the keys' limits: shared through Redis with --redis-url, else this instance's own. */
export function createLimitStore(config: Config, log: Logger, storeErrors: Counter): LimitStore {
  if (config.redisUrl === null) return new LocalStore(config.keys);
  return new RedisStore(
    config.keys,
    { url: config.redisUrl, timeoutMs: config.redisTimeoutMs, failure: config.redisFailure },
    log,
    storeErrors,
  );
}
