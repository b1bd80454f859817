/**
 * Routes of the simulated backend:
 *   POST /v1/chat/completions, POST /v1/completions   (streamed or not, vLLM wire format)
 *   POST /v1/embeddings, GET /v1/models, GET /health   (200, empty body, as vLLM), GET /version
 *   GET /metrics                                       the engine's gauges as vLLM names them (running, waiting, KV use),
 *                                                      and the prefix cache's counters when it is on
 *   anything else                                      404 with the OpenAI error envelope
 * A completion or embeddings request naming a model the backend does not serve gets vLLM's 404
 * (`NotFoundError`, param "model").
 *
 * Fleet controls (see mock-controls.ts), for a backend in another process; these requests are not counted
 * in stats.requests or stats.completed and do not become stats.lastRequest:
 *   POST /mock/control {patch}   applies a JSON patch, e.g. {"health":503}, {"health":"no-answer"},
 *                                {"completionStatus":429,"retryAfterSec":2}, {"ttftMs":500}, {"models":["a","b"]};
 *                                answers 200 with all the controls, or 400 naming the bad field
 *   GET /mock/control            the controls
 *   GET /mock/stats              the counters of stats (requests, healthChecks, completionRequests, prefixCache, ...)
 *
 * Per-request switches are request headers, so a test can steer one request through the proxy.
 * Numbers are non-negative integers; a malformed value gets a 400 naming the header. "k tokens"
 * counts token steps: with n > 1 choices one step is one event per choice.
 *   x-mock-ttft-ms: <ms>              overrides the time to first token (the wait before a non-streamed answer)
 *   x-mock-token-delay-ms: <ms>       overrides the delay between token steps
 *   x-mock-status: <code>             answers with that status (200-599) and an OpenAI error body instead
 *   x-mock-keepalive-comments: <k>    stream: k ": keep-alive" comments before the first event, spread over the ttft
 *   x-mock-inband-error-after: <k>    stream: after k tokens an error event, then [DONE], then the end
 *   x-mock-crash-after: <k>           stream: after k tokens the socket is destroyed; non-stream: destroyed instead
 *                                     of answering
 *   x-mock-crash-in-prefill: 1        stream: the head goes out, then the socket is destroyed when the first event is due
 *   x-mock-no-answer: 1               reads the request and never answers; the socket stays open
 *   x-mock-silent-after: <k>          stream: after k tokens nothing more is sent, the connection stays open
 *   x-mock-line-ending: crlf          stream: events end with \r\n\r\n instead of \n\n
 *   x-mock-split-bytes: 1             stream: every byte is its own write, to exercise parsers on split events
 * A switch at k >= max_tokens: k == max_tokens fires after the last token, before the finish chunk; larger never fires.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { handleCompletion } from './completion-handler.js';
import { handleEmbeddings } from './embeddings-handler.js';
import { handleControl, handleHealth, handleMetrics, handleModelCard, handleModelList, handleStats } from './fleet-handlers.js';
import type { MockControls } from './mock-controls.js';
import { sendError, sendJson } from './mock-responses.js';
import type { MockExchange, MockSwitches } from './mock-types.js';

export const MOCK_SWITCH_HEADERS = [
  'x-mock-ttft-ms',
  'x-mock-token-delay-ms',
  'x-mock-status',
  'x-mock-keepalive-comments',
  'x-mock-inband-error-after',
  'x-mock-crash-after',
  'x-mock-crash-in-prefill',
  'x-mock-no-answer',
  'x-mock-silent-after',
  'x-mock-line-ending',
  'x-mock-split-bytes',
] as const;

type MockSwitchHeader = (typeof MOCK_SWITCH_HEADERS)[number];

const MAX_SWITCH_DIGITS = 9;
// Comments are written back to back when the ttft is 0, so an absurd count would block the loop.
const MAX_KEEPALIVE_COMMENTS = 10_000;
const INTEGER_PATTERN = new RegExp(`^\\d{1,${MAX_SWITCH_DIGITS}}$`);

const MOCK_VERSION = { version: 'mock-0.1.0' };

/** GET /v1/models/{id}, as OpenAI's API answers it. */
const MODEL_CARD_PREFIX = '/v1/models/';

/** Paths of the control surface; they stay out of the request counters. */
export const MOCK_CONTROL_PREFIX = '/mock/';

type RouteHandler = (exchange: MockExchange, switches: MockSwitches) => void;

/** The stats counter a route adds to on every request, whatever its answer. */
type RouteCounter = 'healthChecks' | 'modelListRequests' | 'completionRequests' | 'embeddingsRequests';

interface Route {
  readonly counter: RouteCounter | null;
  readonly handle: RouteHandler;
}

const ROUTES: ReadonlyMap<string, Route> = new Map<string, Route>([
  ['POST /v1/chat/completions', { counter: 'completionRequests', handle: (ex, sw) => handleCompletion(ex, 'chat', sw) }],
  ['POST /v1/completions', { counter: 'completionRequests', handle: (ex, sw) => handleCompletion(ex, 'text', sw) }],
  ['POST /v1/embeddings', { counter: 'embeddingsRequests', handle: handleEmbeddings }],
  ['GET /v1/models', { counter: 'modelListRequests', handle: handleModelList }],
  ['GET /health', { counter: 'healthChecks', handle: handleHealth }],
  // vLLM's GET /version: a small JSON answer of a route every proxy forwards as is (the benchmarks' small request).
  ['GET /version', { counter: null, handle: (ex) => sendJson(ex.res, 200, MOCK_VERSION) }],
  ['GET /metrics', { counter: null, handle: handleMetrics }],
  [`POST ${MOCK_CONTROL_PREFIX}control`, { counter: null, handle: handleControl }],
  [`GET ${MOCK_CONTROL_PREFIX}control`, { counter: null, handle: (ex) => sendJson(ex.res, 200, ex.controls) }],
  [`GET ${MOCK_CONTROL_PREFIX}stats`, { counter: null, handle: handleStats }],
]);

/** Entry point for every request once its body is read. */
export function handleMockRequest(exchange: MockExchange): void {
  const { req, res, path } = exchange;
  const route = ROUTES.get(`${req.method} ${path}`);
  if (route?.counter) exchange.stats[route.counter]++;
  const switches = readSwitches(req.headers, exchange.controls);
  if (typeof switches === 'string') sendError(res, 400, switches);
  // x-mock-no-answer: nothing is written; the socket stays open until the client or close() ends it.
  else if (switches.noAnswer) return;
  else if (switches.status !== undefined) sendError(res, switches.status, `Simulated status ${switches.status}`);
  else if (route) route.handle(exchange, switches);
  else if (req.method === 'GET' && path.startsWith(MODEL_CARD_PREFIX)) handleModelCard(exchange, path.slice(MODEL_CARD_PREFIX.length));
  else sendError(res, 404, `Not found: ${req.method} ${path}`);
}

/** Returns the switches, or the message for a 400 when a header value is malformed. */
function readSwitches(headers: IncomingHttpHeaders, controls: MockControls): MockSwitches | string {
  const bad: string[] = [];
  const text = (name: MockSwitchHeader): string | undefined => {
    const raw = headers[name];
    return (Array.isArray(raw) ? raw[0] : raw)?.trim().toLowerCase();
  };
  const int = (name: MockSwitchHeader, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined => {
    const value = text(name);
    if (value === undefined) return undefined;
    const parsed = INTEGER_PATTERN.test(value) ? Number(value) : Number.NaN;
    if (parsed >= min && parsed <= max) return parsed;
    bad.push(name);
    return undefined;
  };
  const flag = (name: MockSwitchHeader): boolean => {
    const value = text(name);
    return value !== undefined && value !== '' && value !== '0' && value !== 'false';
  };
  const lineEnding = text('x-mock-line-ending');
  if (lineEnding !== undefined && lineEnding !== 'crlf' && lineEnding !== 'lf') bad.push('x-mock-line-ending');
  const switches: MockSwitches = {
    ttftMs: int('x-mock-ttft-ms') ?? controls.ttftMs,
    tokenDelayMs: int('x-mock-token-delay-ms') ?? controls.tokenDelayMs,
    status: int('x-mock-status', 200, 599),
    keepAliveComments: int('x-mock-keepalive-comments', 0, MAX_KEEPALIVE_COMMENTS) ?? 0,
    inbandErrorAfter: int('x-mock-inband-error-after'),
    crashAfter: int('x-mock-crash-after'),
    crashInPrefill: flag('x-mock-crash-in-prefill') || controls.crashInPrefill,
    silentAfter: int('x-mock-silent-after'),
    noAnswer: flag('x-mock-no-answer'),
    crlf: lineEnding === 'crlf',
    splitBytes: flag('x-mock-split-bytes'),
  };
  return bad.length > 0 ? `Invalid value for header ${bad[0]}` : switches;
}
