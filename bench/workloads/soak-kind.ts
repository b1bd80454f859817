/** One kind of soak request, and what a correct proxy gives the client for it. */

/** What the client saw of one request. */
export interface Outcome {
  /** 0 when no response headers arrived. */
  status: number;
  text: string;
  /** The request or the body read failed; null for a clean end. */
  error: string | null;
  /** The client itself aborted (the `abort-mid-stream` kind). */
  aborted: boolean;
}

export interface Kind {
  readonly name: string;
  /** How often it is picked, relative to the other kinds. */
  readonly weight: number;
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly body?: string;
  readonly headers?: Record<string, string>;
  /** Abort the request once this many body chunks arrived. */
  readonly abortAfterChunks?: number;
  /** Whether the outcome is what this kind of request should get through a correct proxy. */
  readonly expected: (outcome: Outcome) => boolean;
  /** The outcome class reported in the totals. */
  readonly label: string;
}

export const JSON_TYPE = { 'content-type': 'application/json' };

export const chatBody = (fields: Record<string, unknown>): string =>
  JSON.stringify({ model: 'mock-model', messages: [{ role: 'user', content: 'soak test prompt of a few words' }], ...fields });

/** The body was read to its end and the client did not abort. */
export const ended = (o: Outcome): boolean => o.error === null && !o.aborted;

/** A stream that completed: 200 and the final `[DONE]` event. */
export const done = (o: Outcome): boolean => ended(o) && o.status === 200 && o.text.endsWith('data: [DONE]\n\n');
