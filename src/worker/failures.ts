import type { Ending } from '../llm/completion-tracker.js';
import type { RetryReason } from '../metrics/request-recorder.js';
import type { ErrorCode } from '../shared/error-catalog.js';
import {
  ERR_BACKEND_REMOVED,
  ERR_BAD_REQUEST_BODY,
  ERR_BODY_TOO_LARGE,
  ERR_CLIENT_ABORTED,
  ERR_DRAIN_DEADLINE,
  ERR_RETRY_ELSEWHERE,
} from '../shared/proxy-error.js';

/** Who a failure is down to: only a `backend` failure may count against a backend. */
type FailureParty = 'backend' | 'client' | 'proxy' | 'request';

/** The outcomes a failure can give a completion (the tracker decides the others from what the backend sent). */
type FailureOutcome = Exclude<Ending, 'end'>;

/** Everything that follows from one kind of failure (STYLE habit 9: one table, read by every decision). */
export interface FailureRule {
  readonly by: FailureParty;
  /**
   * The proxy's own answer when the failure ends a request before anything reached the client; null when the
   * backend's head is relayed as it came (a status that could not be retried elsewhere).
   */
  readonly answer: ErrorCode | null;
  /** That answer's message; `{code}` stands for the raw error code, `{message}` for the error's own message. */
  readonly message: string;
  /** Counts toward --max-fails against the attempt's backend. */
  readonly chargesBackend: boolean;
  /** upstream_retries_total{reason} when it may go to another backend (only while nothing reached the client); null: never. */
  readonly retry: RetryReason | null;
  /** stream_outcomes_total when it ends a completion; null when the relayed response decides (a status). */
  readonly outcome: FailureOutcome | null;
  /** Gets a `backend request failed` warn line of its own (besides the access line). */
  readonly warns: boolean;
}

const backendFailure = (answer: ErrorCode, message: string, retry: RetryReason | null, outcome: FailureOutcome): FailureRule => ({
  by: 'backend',
  answer,
  message,
  chargesBackend: true,
  retry,
  outcome,
  warns: true,
});
/** A head that says "this backend cannot serve now". 429 is a refusal, not a failure: retried, never charged. */
const statusFailure = (retry: RetryReason, chargesBackend: boolean): FailureRule => ({
  by: 'backend',
  answer: null,
  message: '',
  chargesBackend,
  retry,
  outcome: null,
  warns: false,
});
const notTheBackend = (by: FailureParty, answer: ErrorCode | null, message: string, outcome: FailureOutcome | null): FailureRule => ({
  by,
  answer,
  message,
  chargesBackend: false,
  retry: null,
  outcome,
  warns: false,
});

/** Every failure an exchange can meet, by kind. */
export const FAILURES = {
  // The backend: unreachable, cut, silent or broken.
  unreachable: backendFailure('backend_unreachable', 'the backend is unreachable ({code})', 'connect', 'upstream_error'),
  connect_timeout: backendFailure('backend_timeout', 'connecting to the backend timed out', 'connect', 'timeout'),
  reset: backendFailure('backend_error', 'the backend connection failed ({code})', 'reset', 'upstream_error'),
  headers_timeout: backendFailure('backend_timeout', 'the backend did not send response headers in time', null, 'timeout'),
  body_timeout: backendFailure('backend_timeout', 'the backend went silent for longer than the body timeout', null, 'timeout'),
  broken: backendFailure('backend_error', 'the backend connection failed ({code})', null, 'upstream_error'),
  // The backend's head says it cannot serve now.
  status_429: statusFailure('429', false),
  status_502: statusFailure('502', true),
  status_503: statusFailure('503', true),
  status_504: statusFailure('504', true),
  // The client left: nothing is sent, and the backend's work is aborted.
  client_gone: notTheBackend('client', 'client_closed', 'the client closed the connection', 'client_disconnect'),
  // The proxy's own aborts.
  drain_deadline: notTheBackend(
    'proxy',
    'proxy_draining',
    'the proxy is restarting or stopping and its drain deadline passed; retry the request',
    'proxy_cut',
  ),
  backend_removed: notTheBackend('proxy', 'backend_removed', 'the backend left the fleet while the request ran', 'proxy_cut'),
  retry_elsewhere: notTheBackend('proxy', null, '', null),
  // The request itself, before any backend.
  body_too_large: notTheBackend('request', 'request_too_large', '{message}', null),
  bad_body: notTheBackend('request', 'bad_request_body', '{message}', null),
} as const satisfies Record<string, FailureRule>;

export type FailureKind = keyof typeof FAILURES;

/** Error codes (undici's UND_ERR_*, the system's E*, ours ERR_*) by kind; any other code, or none, is `broken`. */
const KIND_BY_CODE: ReadonlyMap<string, FailureKind> = new Map<string, FailureKind>([
  ['ECONNREFUSED', 'unreachable'],
  ['ENOTFOUND', 'unreachable'],
  ['EAI_AGAIN', 'unreachable'],
  ['EHOSTUNREACH', 'unreachable'],
  ['ENETUNREACH', 'unreachable'],
  ['UND_ERR_CONNECT_TIMEOUT', 'connect_timeout'],
  ['UND_ERR_SOCKET', 'reset'],
  ['ECONNRESET', 'reset'],
  ['EPIPE', 'reset'],
  ['UND_ERR_HEADERS_TIMEOUT', 'headers_timeout'],
  ['UND_ERR_BODY_TIMEOUT', 'body_timeout'],
  [ERR_CLIENT_ABORTED, 'client_gone'],
  // undici's own abort without a reason: only ever the client's (every abort of ours carries a code).
  ['UND_ERR_ABORTED', 'client_gone'],
  [ERR_DRAIN_DEADLINE, 'drain_deadline'],
  [ERR_BACKEND_REMOVED, 'backend_removed'],
  // A pool we closed or destroyed (its backend left the fleet, or the worker stopped).
  ['UND_ERR_DESTROYED', 'backend_removed'],
  ['UND_ERR_CLOSED', 'backend_removed'],
  [ERR_RETRY_ELSEWHERE, 'retry_elsewhere'],
  [ERR_BODY_TOO_LARGE, 'body_too_large'],
  [ERR_BAD_REQUEST_BODY, 'bad_body'],
]);

const KIND_BY_STATUS: ReadonlyMap<number, FailureKind> = new Map<number, FailureKind>([
  [429, 'status_429'],
  [502, 'status_502'],
  [503, 'status_503'],
  [504, 'status_504'],
]);

/** The code of an error-like value, or '' when it has none. */
function codeOf(err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
}

/**
 * The kind of a raw failure. `clientGone`: the client had already left when it happened, so whatever the
 * error says (an upload cut mid-body surfaces as ECONNRESET), it is the client's doing.
 */
export function classifyError(err: unknown, clientGone = false): FailureKind {
  if (clientGone) return 'client_gone';
  return KIND_BY_CODE.get(codeOf(err)) ?? 'broken';
}

/** The kind of a backend's head, or null for a head that is simply relayed. */
export function classifyStatus(status: number): FailureKind | null {
  return KIND_BY_STATUS.get(status) ?? null;
}

/** A failure as the client is told about it: a catalog code and a message. */
export interface ClientAnswer {
  readonly code: ErrorCode;
  readonly message: string;
}

/** The proxy's answer for `err` (of kind `kind`) when nothing reached the client yet; null when the backend's head stands. */
export function answerFor(kind: FailureKind, err: unknown): ClientAnswer | null {
  const rule: FailureRule = FAILURES[kind];
  if (rule.answer === null) return null;
  const code = codeOf(err);
  const own = err instanceof Error ? err.message : '';
  const message = rule.message
    .replace('{message}', own)
    .replace(' ({code})', code === '' ? '' : ` (${code})`)
    .replace('{code}', code);
  return { code: rule.answer, message };
}
