/**
 * What a simulated backend lets a test change while traffic flows (issue 11 point 7: a model list,
 * failure modes, a latency): set at start by options or CLI flags, then by `backend.control(patch)` in
 * process or `POST /mock/control` with the same patch as JSON for a backend in a child process. A request
 * keeps the controls it arrived under.
 */
export interface MockControls {
  /** Models served: listed by GET /v1/models; a request naming another one gets 404, as from vLLM. */
  readonly models: readonly string[];
  /** false: GET /v1/models answers 404, as a server without the route (its model list stays unknown). */
  readonly listModels: boolean;
  /** true: any model name is answered, as llama.cpp's server does (it serves whatever it loaded). */
  readonly anyModel: boolean;
  /** GET /health answers with this status; 'no-answer' reads the probe and never answers (a probe timeout). */
  readonly health: number | 'no-answer';
  /** GET /health answers after this long, ms (a slow probe). */
  readonly healthDelayMs: number;
  /** Every completion request gets this status and an error body instead of an answer; null answers them. */
  readonly completionStatus: number | null;
  /** Retry-After on those error answers, seconds; null sends none. */
  readonly retryAfterSec: number | null;
  /** Time to the first token of a stream, and delay before a non-streamed answer starts, ms. */
  readonly ttftMs: number;
  /** Delay between two token steps, ms; 0 writes them back to back, each in its own write. */
  readonly tokenDelayMs: number;
  /**
   * Streams: the head goes out at once (as vLLM's uvicorn sends it, before prefill), then the connection drops
   * when the first event is due: a backend that dies in prefill (OOM, a CUDA error, a restart).
   */
  readonly crashInPrefill: boolean;
}

export type MockControlPatch = Partial<MockControls>;

export const DEFAULT_MOCK_MODEL = 'mock-model';

export const DEFAULT_MOCK_CONTROLS: MockControls = Object.freeze({
  models: Object.freeze([DEFAULT_MOCK_MODEL]),
  listModels: true,
  anyModel: false,
  health: 200,
  healthDelayMs: 0,
  completionStatus: null,
  retryAfterSec: null,
  ttftMs: 0,
  tokenDelayMs: 0,
  crashInPrefill: false,
});

// Node fires a longer timer at once (with a warning), which would turn "slow" into "fast".
const MAX_TIMER_MS = 2_147_483_647;

const isCount = (value: unknown, max = MAX_TIMER_MS): boolean =>
  Number.isInteger(value) && (value as number) >= 0 && (value as number) <= max;
const isStatus = (value: unknown, min: number): boolean => Number.isInteger(value) && (value as number) >= min && (value as number) <= 599;
const isBoolean = (value: unknown): boolean => typeof value === 'boolean';

/** Each control's check and what the error message says it must be. */
const CHECKS: { readonly [K in keyof MockControls]: readonly [(value: unknown) => boolean, string] } = {
  models: [(value) => Array.isArray(value) && value.every((name) => typeof name === 'string' && name !== ''), 'an array of model names'],
  listModels: [isBoolean, 'true or false'],
  anyModel: [isBoolean, 'true or false'],
  health: [(value) => value === 'no-answer' || isStatus(value, 200), 'a status from 200 to 599 or "no-answer"'],
  healthDelayMs: [isCount, `an integer from 0 to ${MAX_TIMER_MS}`],
  completionStatus: [(value) => value === null || isStatus(value, 400), 'a status from 400 to 599, or null'],
  retryAfterSec: [(value) => value === null || isCount(value), 'a non-negative integer, or null'],
  ttftMs: [isCount, `an integer from 0 to ${MAX_TIMER_MS}`],
  tokenDelayMs: [isCount, `an integer from 0 to ${MAX_TIMER_MS}`],
  crashInPrefill: [isBoolean, 'true or false'],
};

/**
 * The controls with `patch` applied (fields left out or undefined keep their value), or the message for a
 * 400 naming the first bad field. The patch comes from a test or from the network, so it is checked whole
 * before anything changes.
 */
export function applyControls(current: MockControls, patch: unknown): MockControls | string {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return 'The controls must be a JSON object';
  const next: Record<string, unknown> = { ...current };
  for (const [name, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    if (!Object.hasOwn(CHECKS, name)) return `Unknown control '${name}'`;
    const [check, expected] = CHECKS[name as keyof MockControls];
    if (!check(value)) return `Control '${name}' must be ${expected}`;
    next[name] = name === 'models' ? Object.freeze([...(value as string[])]) : value;
  }
  return Object.freeze(next as unknown as MockControls);
}

/** Whether a request naming `model` is answered. */
export function servesModel(controls: MockControls, model: string): boolean {
  return controls.anyModel || controls.models.includes(model);
}
