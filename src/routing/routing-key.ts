import type { IncomingHttpHeaders } from 'node:http';
import type { Config } from '../config/types.js';
import type { CompletionKind } from '../llm/completion-kind.js';
import { promptText } from '../llm/prompt-text.js';
import { hashBytes, hashText, type KeyHash } from './key-hash.js';

/** What a request offers as its routing key: its headers and, on the completion endpoints, its parsed body. */
export type KeyReader = (headers: IncomingHttpHeaders, kind: CompletionKind | null, json: Record<string, unknown> | null) => KeyHash | null;

type KeyOptions = Pick<Config, 'sessionHeader' | 'prefixBytes'>;

const NO_KEY: KeyReader = () => null;

/**
 * The routing keys a policy may declare (RoutingPolicy.key), each with its reader:
 * - session: the --session-header, else the body's `user` field (the OpenAI field for an end-user id), of
 *   any length;
 * - prefix: the first --prefix-bytes of the prompt as the model will see it (promptText: for chat the
 *   tool definitions and the messages in order, for completions the prompt), so that requests sharing a
 *   system prompt share a key.
 * Null when the request has no such key: it is then routed by least load.
 */
const KEY_READERS = {
  session(options: KeyOptions): KeyReader {
    const header = options.sessionHeader;
    return (headers, _kind, json) => {
      const value = headers[header];
      const id = typeof value === 'string' ? value : typeof json?.user === 'string' ? json.user : '';
      // Any length: the key is the id's hash, and nothing is kept per session (a long id costs one pass over
      // bytes the request already carried: headers are bounded by Node's header limit, the body by --body-limit).
      return id === '' ? null : hashText(id);
    };
  },
  prefix(options: KeyOptions): KeyReader {
    const limit = options.prefixBytes;
    return (_headers, kind, json) => {
      if (kind === null || json === null) return null;
      const prefix = promptText(kind, json, limit);
      return prefix.length === 0 ? null : hashBytes(prefix);
    };
  },
} satisfies Record<string, (options: KeyOptions) => KeyReader>;

export type KeyKind = keyof typeof KEY_READERS;

export const KEY_KINDS = Object.keys(KEY_READERS) as readonly KeyKind[];

/** The reader of a request's routing key, chosen at startup by the key its --routing policy declares (null: no key). */
export function createKeyReader(kind: KeyKind | null, options: KeyOptions): KeyReader {
  return kind === null ? NO_KEY : KEY_READERS[kind](options);
}
