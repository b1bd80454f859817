import { parseJsonObject } from './completion-request.js';
import { servesModel } from './mock-controls.js';
import { mockMetricsText, PROMETHEUS_CONTENT_TYPE } from './mock-metrics.js';
import { sendError, sendJson, sendModelNotFound } from './mock-responses.js';
import type { MockExchange } from './mock-types.js';

/** GET /health: empty body, as vLLM's; status, delay or silence as the controls say. */
export function handleHealth(exchange: MockExchange): void {
  const { health, healthDelayMs } = exchange.controls;
  // 'no-answer': nothing is written; the socket stays open until the prober gives up or close() ends it.
  if (health === 'no-answer') return;
  const answer = (): void => {
    exchange.res.writeHead(health, { 'content-length': 0 }).end();
  };
  if (healthDelayMs === 0) {
    answer();
    return;
  }
  const timer = setTimeout(answer, healthDelayMs);
  exchange.onStop(() => clearTimeout(timer));
}

/** GET /v1/models in the OpenAI list shape, or 404 when the backend is set to serve no model list. */
export function handleModelList(exchange: MockExchange): void {
  const { controls, settings, res } = exchange;
  if (!controls.listModels) {
    sendError(res, 404, 'Not Found');
    return;
  }
  const data = controls.models.map((id) => ({ id, object: 'model', created: settings.createdSec, owned_by: 'mock' }));
  sendJson(res, 200, { object: 'list', data });
}

/** GET /v1/models/{id}: that model's card, or 404 as for a model it does not serve. */
export function handleModelCard(exchange: MockExchange, encodedId: string): void {
  const { controls, settings, res } = exchange;
  let id: string;
  try {
    id = decodeURIComponent(encodedId);
  } catch {
    sendError(res, 400, 'Malformed model id');
    return;
  }
  if (!controls.listModels || !servesModel(controls, id)) {
    sendModelNotFound(res, id);
    return;
  }
  sendJson(res, 200, { id, object: 'model', created: settings.createdSec, owned_by: 'mock' });
}

/** GET /metrics: the engine's gauges as vLLM names them, and the prefix cache's counters when it is on. */
export function handleMetrics(exchange: MockExchange): void {
  const { res, settings, stats, controls } = exchange;
  const engine = settings.engine.refresh();
  const text = mockMetricsText(controls.models[0] ?? '', settings.engine, engine, settings.prefill === null ? null : stats.prefixCache);
  res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE, 'content-length': Buffer.byteLength(text) }).end(text);
}

/** POST /mock/control: applies a JSON patch of the controls and answers with all of them. */
export function handleControl(exchange: MockExchange): void {
  const controls = exchange.control(parseJsonObject(exchange.body));
  if (typeof controls === 'string') sendError(exchange.res, 400, controls);
  else sendJson(exchange.res, 200, controls);
}

/** GET /mock/stats: the counters, for a backend in another process. */
export function handleStats(exchange: MockExchange): void {
  exchange.settings.engine.refresh();
  const { lastRequest: _, ...counters } = exchange.stats;
  sendJson(exchange.res, 200, counters);
}
