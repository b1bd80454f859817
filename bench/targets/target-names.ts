/** Targets that other targets are compared with, by name (tables, findings and the cost lines look them up). */

export const DIRECT_TARGET = 'direct';
export const NGINX_TARGET = 'nginx';
export const SIMPLE_TARGET = 'simple-undici';
/** The same on 2 node:cluster workers. */
export const SIMPLE_2W_TARGET = 'simple-undici-2w';
/** The Portkey gateway (npm @portkey-ai/gateway), the LLM gateway compared with (stream, overhead). */
export const PORTKEY_TARGET = 'portkey';
/** proxy-1w, and its twins that leave one feature out. */
export const PROXY_TARGET = 'proxy-1w';
/** proxy-1w in front of 8 backends (one backend process on 8 loopback addresses): the cost of selection. */
export const FLEET_TARGET = 'proxy-1w-8b';
export const NO_LOG_TARGET = 'proxy-1w-nolog';
/** proxy-1w without the admission queue and the engine reads. */
export const NO_QUEUE_TARGET = 'proxy-1w-noqueue';
export const PLAIN_TARGET = 'proxy-1w-plain';
/** The rows every other row of a table is compared with; null when that target did not run. */
export function findReferences<T extends { target: string }>(rows: readonly T[]): { direct: T | null; nginx: T | null; simple: T | null } {
  const find = (name: string): T | null => rows.find((r) => r.target === name) ?? null;
  return { direct: find(DIRECT_TARGET), nginx: find(NGINX_TARGET), simple: find(SIMPLE_TARGET) };
}

/** Targets whose proxy injects stream_options.include_usage and must hide the usage chunk. */
export const INJECTING_TARGETS: readonly string[] = [PROXY_TARGET];
