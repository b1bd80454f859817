import type { IncomingHttpHeaders } from 'node:http';
import type { Config } from '../config/types.js';
import type { CompletionKind } from '../llm/completion-kind.js';
import { promptText } from '../llm/prompt-text.js';
import { hashBytes, hashText, type KeyHash } from './key-hash.js';

/** What a request offers as its affinity key: its headers and, on the completion endpoints, its parsed body. */
export type KeyReader = (headers: IncomingHttpHeaders, kind: CompletionKind | null, json: Record<string, unknown> | null) => KeyHash | null;

const NO_KEY: KeyReader = () => null;

/**
 * The affinity key of a request, decided at startup by --routing:
 * - session: the --session-header, else the body's `user` field (the OpenAI field for an end-user id), of
 *   any length;
 * - prefix: the first --prefix-bytes of the prompt as the model will see it (promptText: for chat the
 *   tool definitions and the messages in order, for completions the prompt), so that requests sharing a
 *   system prompt share a key;
 * - other policies: none.
 * Null when the request has no such key: it is then routed by least load.
 */
export function createKeyReader(config: Pick<Config, 'routing' | 'sessionHeader' | 'prefixBytes'>): KeyReader {
  if (config.routing === 'session') {
    const header = config.sessionHeader;
    return (headers, _kind, json) => {
      const value = headers[header];
      const id = typeof value === 'string' ? value : typeof json?.user === 'string' ? json.user : '';
      // Any length: the key is the id's hash, and nothing is kept per session (a long id costs one pass over
      // bytes the request already carried: headers are bounded by Node's header limit, the body by --body-limit).
      return id === '' ? null : hashText(id);
    };
  }
  if (config.routing === 'prefix') {
    const limit = config.prefixBytes;
    return (_headers, kind, json) => {
      if (kind === null || json === null) return null;
      const prefix = promptText(kind, json, limit);
      return prefix.length === 0 ? null : hashBytes(prefix);
    };
  }
  return NO_KEY;
}
