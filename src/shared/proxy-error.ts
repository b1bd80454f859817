/**
 * Errors are values with a stable `code`; mapError() in worker/error-response.ts is the one place that
 * turns a code into an HTTP status.
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
