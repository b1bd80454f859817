/**
 * Errors are values with a stable `code`; the failure table (worker/failures.ts) is the one place that
 * turns a code into everything that follows from it: the client's status, the backend's verdict, a retry,
 * the stream outcome.
 */
export class ProxyError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

export const ERR_BODY_TOO_LARGE = 'ERR_BODY_TOO_LARGE';
export const ERR_CLIENT_ABORTED = 'ERR_CLIENT_ABORTED';
export const ERR_BAD_REQUEST_BODY = 'ERR_BAD_REQUEST_BODY';
// The proxy's own aborts of an upstream attempt: none of them says anything about the backend.
/** The worker's drain deadline passed (a rolling restart or a stop) with the request still running. */
export const ERR_DRAIN_DEADLINE = 'ERR_DRAIN_DEADLINE';
/** The backend left the fleet and the requests still on it outlived the drain deadline. */
export const ERR_BACKEND_REMOVED = 'ERR_BACKEND_REMOVED';
/** The attempt's answer is dropped unread: the request goes to another backend. */
export const ERR_RETRY_ELSEWHERE = 'ERR_RETRY_ELSEWHERE';
