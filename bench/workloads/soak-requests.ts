import { chatBody, done, ended, JSON_TYPE, type Kind } from './soak-kind.js';

/** The ordinary part of the soak's mix: every route the proxy serves, streamed and not. */
export const ORDINARY_KINDS: readonly Kind[] = [
  {
    name: 'GET /version',
    weight: 12,
    method: 'GET',
    path: '/inference/version',
    expected: (o) => ended(o) && o.status === 200 && o.text.includes('"object":"list"'),
    label: 'ok',
  },
  {
    name: 'GET /health (backend)',
    weight: 6,
    method: 'GET',
    path: '/inference/health',
    expected: (o) => ended(o) && o.status === 200,
    label: 'ok',
  },
  {
    name: 'chat, not streamed',
    weight: 24,
    method: 'POST',
    path: '/inference/v1/chat/completions',
    body: chatBody({ max_tokens: 8 }),
    headers: JSON_TYPE,
    expected: (o) => ended(o) && o.status === 200 && o.text.includes('"chat.completion"'),
    label: 'ok',
  },
  {
    name: 'chat, streamed',
    weight: 22,
    method: 'POST',
    path: '/inference/v1/chat/completions',
    body: chatBody({ max_tokens: 16, stream: true }),
    headers: { ...JSON_TYPE, 'x-mock-token-delay-ms': '1' },
    // The usage chunk the proxy asked for on the client's behalf is hidden from it.
    expected: (o) => done(o) && !o.text.includes('"usage":{'),
    label: 'ok',
  },
  {
    name: 'completion, streamed with usage',
    weight: 6,
    method: 'POST',
    path: '/inference/v1/completions',
    body: JSON.stringify({ model: 'mock-model', prompt: 'soak', max_tokens: 12, stream: true, stream_options: { include_usage: true } }),
    headers: JSON_TYPE,
    expected: (o) => done(o) && o.text.includes('"usage":{'),
    label: 'ok',
  },
  {
    name: 'embeddings',
    weight: 4,
    method: 'POST',
    path: '/inference/v1/embeddings',
    body: JSON.stringify({ model: 'mock-model', input: 'soak' }),
    headers: JSON_TYPE,
    expected: (o) => ended(o) && o.status === 200,
    label: 'ok',
  },
];
