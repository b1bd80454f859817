/**
 * Every error the proxy answers itself, by its stable `code`: the status and the OpenAI error `type` are
 * decided here and nowhere else. Bodies use the OpenAI envelope `{"error":{"message","type","code"}}`
 * because our clients are LLM SDKs.
 */
export const ERROR_CATALOG = {
  // The request itself is wrong.
  bad_request: { status: 400, type: 'invalid_request_error' },
  invalid_request_target: { status: 400, type: 'invalid_request_error' },
  bad_request_body: { status: 400, type: 'invalid_request_error' },
  invalid_api_key: { status: 401, type: 'invalid_request_error' },
  // A key's reach: a model it may not use, an engine's admin route (see tenants/admin-routes.ts).
  model_not_allowed: { status: 403, type: 'invalid_request_error' },
  admin_route_forbidden: { status: 403, type: 'invalid_request_error' },
  // An x-priority header that names no priority class.
  invalid_priority: { status: 400, type: 'invalid_request_error' },
  not_found: { status: 404, type: 'invalid_request_error' },
  model_not_found: { status: 404, type: 'invalid_request_error' },
  method_not_allowed: { status: 405, type: 'invalid_request_error' },
  request_timeout: { status: 408, type: 'invalid_request_error' },
  request_too_large: { status: 413, type: 'invalid_request_error' },
  headers_too_large: { status: 431, type: 'invalid_request_error' },
  // A key's limits (rpm, tpm, max_parallel), and its spent budget, with the codes OpenAI sends.
  rate_limit_exceeded: { status: 429, type: 'rate_limit_error' },
  insufficient_quota: { status: 429, type: 'insufficient_quota' },
  // Every backend the request may use stayed saturated for --queue-timeout.
  queue_timeout: { status: 429, type: 'rate_limit_error' },
  // Nothing is sent: the client left (recorded as 499 in metrics and logs).
  client_closed: { status: 499, type: 'client_closed' },
  // The proxy or its backends.
  internal_error: { status: 500, type: 'internal_error' },
  backend_unreachable: { status: 502, type: 'upstream_error' },
  backend_error: { status: 502, type: 'upstream_error' },
  no_backend: { status: 502, type: 'upstream_error' },
  backend_removed: { status: 502, type: 'upstream_error' },
  proxy_overloaded: { status: 503, type: 'overloaded' },
  proxy_draining: { status: 503, type: 'unavailable' },
  metrics_unavailable: { status: 503, type: 'unavailable' },
  // The shared rate-limit store (Redis) is down and --redis-failure is closed.
  ratelimit_unavailable: { status: 503, type: 'unavailable' },
  backend_timeout: { status: 504, type: 'upstream_timeout' },
} as const satisfies Record<string, { status: number; type: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

/** Status used in metrics and logs when the client left before the response ended (nothing is sent). */
export const STATUS_CLIENT_CLOSED = ERROR_CATALOG.client_closed.status;

/** The OpenAI error envelope for `code`. */
export function errorBody(code: ErrorCode, message: string): string {
  return JSON.stringify({ error: { message, type: ERROR_CATALOG[code].type, code } });
}
