import type { CompletionKind } from '../llm/completion-kind.js';
import { KNOWN_ENDPOINTS, OTHER_ENDPOINT } from '../metrics/definitions.js';
import { OWN_PATHS, type OwnRoute } from '../shared/own-routes.js';

/** What the server does with a request, decided from the method and target alone (pure, no I/O). */
export type Route =
  | { kind: 'own'; page: OwnRoute }
  | { kind: 'bad-target' }
  | { kind: 'method-not-allowed'; allow: string }
  | {
      kind: 'proxy';
      upstreamPath: string;
      endpoint: string;
      completion: CompletionKind | null;
      /** The JSON body names the model (completions, embeddings, rerank, ...): it is read, and routes the request. */
      modelInBody: boolean;
      /** The model the path names (GET /v1/models/{id}); null for other paths. */
      pathModel: string | null;
    };

const ENDPOINTS = new Set<string>(KNOWN_ENDPOINTS);
const COMPLETIONS: ReadonlyMap<string, CompletionKind> = new Map([
  ['/v1/chat/completions', 'chat'],
  ['/v1/completions', 'text'],
]);

/**
 * POST routes whose JSON body carries `model`, besides the completions: OpenAI's embeddings and responses, the
 * rerank, score, pooling, classify and tokenizer routes of vLLM and SGLang, and Anthropic-style messages. The
 * body is read so that the model chooses the backend, as for a completion.
 */
const MODEL_BODY_PATHS: ReadonlySet<string> = new Set([
  '/v1/embeddings',
  '/v1/responses',
  '/v1/rerank',
  '/v2/rerank',
  '/rerank',
  '/v1/score',
  '/score',
  '/pooling',
  '/classify',
  '/tokenize',
  '/detokenize',
  '/v1/messages',
  '/v1/messages/count_tokens',
]);
const MODEL_PATH_PREFIX = '/v1/models/';

export interface Router {
  route(method: string, target: string): Route;
}

/** The proxy's own paths (/metrics, /healthz, /dashboard) are matched before the prefix is stripped and are never forwarded. */
export function createRouter(stripPrefix: string): Router {
  const prefixSlash = `${stripPrefix}/`;
  return {
    route(method, target) {
      // Only origin-form targets: an absolute-form target (GET http://elsewhere/) must never choose where we connect.
      if (target.charCodeAt(0) !== 47 /* / */) return { kind: 'bad-target' };
      const queryAt = target.indexOf('?');
      let path = queryAt === -1 ? target : target.slice(0, queryAt);
      const own = OWN_PATHS.get(path);
      if (own !== undefined) {
        if (method !== 'GET' && method !== 'HEAD') return { kind: 'method-not-allowed', allow: 'GET, HEAD' };
        return { kind: 'own', page: own };
      }
      let upstreamPath = target;
      if (stripPrefix !== '' && (path === stripPrefix || path.startsWith(prefixSlash))) {
        upstreamPath = target.slice(stripPrefix.length);
        path = path.slice(stripPrefix.length);
        if (path === '') {
          path = '/';
          upstreamPath = `/${upstreamPath}`;
        }
      }
      const completion = method === 'POST' ? (COMPLETIONS.get(path) ?? null) : null;
      const endpoint = ENDPOINTS.has(path) ? path : OTHER_ENDPOINT;
      const modelInBody = completion !== null || (method === 'POST' && MODEL_BODY_PATHS.has(path));
      return { kind: 'proxy', upstreamPath, endpoint, completion, modelInBody, pathModel: pathModelOf(method, path) };
    },
  };
}

/** GET /v1/models/{id}: the model it asks about (percent-decoded); null for any other request. */
function pathModelOf(method: string, path: string): string | null {
  if ((method !== 'GET' && method !== 'HEAD') || !path.startsWith(MODEL_PATH_PREFIX) || path.length === MODEL_PATH_PREFIX.length)
    return null;
  try {
    return decodeURIComponent(path.slice(MODEL_PATH_PREFIX.length));
  } catch {
    return null;
  }
}
