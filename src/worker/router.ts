import type { CompletionKind } from '../llm/completion-kind.js';
import { KNOWN_ENDPOINTS, OTHER_ENDPOINT } from '../metrics/definitions.js';

/** What the server does with a request, decided from the method and target alone (pure, no I/O). */
export type Route =
  | { kind: 'metrics' }
  | { kind: 'healthz' }
  | { kind: 'dashboard' }
  | { kind: 'dashboard-history' }
  | { kind: 'bad-target' }
  | { kind: 'method-not-allowed'; allow: string }
  | { kind: 'proxy'; upstreamPath: string; endpoint: string; completion: CompletionKind | null };

const ENDPOINTS = new Set<string>(KNOWN_ENDPOINTS);
const COMPLETIONS: ReadonlyMap<string, CompletionKind> = new Map([
  ['/v1/chat/completions', 'chat'],
  ['/v1/completions', 'text'],
]);

/** The proxy's own pages: answered here, never forwarded. */
const OWN_PATHS: ReadonlyMap<string, 'metrics' | 'healthz' | 'dashboard' | 'dashboard-history'> = new Map([
  ['/metrics', 'metrics'],
  ['/healthz', 'healthz'],
  ['/dashboard', 'dashboard'],
  ['/dashboard/history', 'dashboard-history'],
] as const);

export interface Router {
  route(method: string, target: string): Route;
}

/** The proxy's own paths (/metrics, /healthz, /dashboard, /dashboard/history) are matched before the prefix is stripped and are never forwarded. */
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
        return { kind: own };
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
