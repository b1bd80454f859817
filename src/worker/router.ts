import type { CompletionKind } from '../llm/completion-kind.js';
import { KNOWN_ENDPOINTS, OTHER_ENDPOINT } from '../metrics/definitions.js';
import { OWN_PATHS, type OwnRoute } from '../shared/own-routes.js';

/** What the server does with a request, decided from the method and target alone (pure, no I/O). */
export type Route =
  | { kind: 'own'; page: OwnRoute }
  | { kind: 'bad-target' }
  | { kind: 'method-not-allowed'; allow: string }
  | { kind: 'proxy'; upstreamPath: string; endpoint: string; completion: CompletionKind | null };

const ENDPOINTS = new Set<string>(KNOWN_ENDPOINTS);
const COMPLETIONS: ReadonlyMap<string, CompletionKind> = new Map([
  ['/v1/chat/completions', 'chat'],
  ['/v1/completions', 'text'],
]);

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
      return { kind: 'proxy', upstreamPath, endpoint, completion };
    },
  };
}
