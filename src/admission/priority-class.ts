/**
 * Priority classes: a queued request of a higher class always goes before one of a lower class. A key
 * has a class in the config file (standard when it names none); a request's `x-priority` header may
 * lower it, never raise it, so a tenant can mark its own background work without being able to jump
 * the queue.
 */
export const PRIORITY_CLASSES = ['interactive', 'standard', 'batch'] as const;
export type PriorityClass = (typeof PRIORITY_CLASSES)[number];

export const DEFAULT_PRIORITY_CLASS: PriorityClass = 'standard';
/** The request header that lowers a request's class. */
export const PRIORITY_HEADER = 'x-priority';

const RANK: Readonly<Record<PriorityClass, number>> = { interactive: 0, standard: 1, batch: 2 };

/**
 * vLLM's `priority` request field for each class (under --scheduling-policy priority, lower is handled
 * earlier; any value but 0 is refused by an engine without it, hence standard's 0).
 */
export const VLLM_PRIORITY: Readonly<Record<PriorityClass, number>> = { interactive: -1, standard: 0, batch: 1 };

export function isPriorityClass(value: unknown): value is PriorityClass {
  return typeof value === 'string' && Object.hasOwn(RANK, value);
}

/**
 * The class a request queues in: its key's, or the lower one its x-priority header names. `undefined`
 * when the header names no class (the caller answers 400).
 */
export function requestClass(keyClass: PriorityClass, header: string | string[] | undefined): PriorityClass | undefined {
  if (header === undefined) return keyClass;
  const asked = (Array.isArray(header) ? header[0] : header)?.trim().toLowerCase();
  if (!isPriorityClass(asked)) return undefined;
  return RANK[asked] > RANK[keyClass] ? asked : keyClass;
}
