import { chatBody, done, ended, JSON_TYPE, type Kind } from './soak-kind.js';

/**
 * The faults mixed into the soak, each as often as its weight says (26 in 100 requests): a
 * leak that only faults cause (a socket, a listener, a stream left open) shows up as growth between the
 * snapshots. The mock backend fails on request, through its x-mock-* headers.
 */
export const FAULT_KINDS: readonly Kind[] = [
  {
    name: 'client abort mid-stream',
    weight: 8,
    method: 'POST',
    path: '/inference/v1/chat/completions',
    body: chatBody({ max_tokens: 400, stream: true }),
    headers: { ...JSON_TYPE, 'x-mock-token-delay-ms': '5' },
    abortAfterChunks: 3,
    expected: (o) => o.aborted && o.status === 200,
    label: 'client abort',
  },
  {
    name: 'backend crash mid-stream',
    weight: 6,
    method: 'POST',
    path: '/inference/v1/chat/completions',
    body: chatBody({ max_tokens: 16, stream: true }),
    headers: { ...JSON_TYPE, 'x-mock-crash-after': '3', 'x-mock-token-delay-ms': '1' },
    // The client must see a failed response, never a clean end.
    expected: (o) => !o.aborted && o.status === 200 && o.error !== null && !o.text.includes('[DONE]'),
    label: 'upstream cut',
  },
  {
    name: 'backend status 500',
    weight: 6,
    method: 'POST',
    path: '/inference/v1/chat/completions',
    body: chatBody({ max_tokens: 8 }),
    headers: { ...JSON_TYPE, 'x-mock-status': '500' },
    expected: (o) => ended(o) && o.status === 500,
    label: 'http 500',
  },
  {
    name: 'in-band error mid-stream',
    weight: 6,
    method: 'POST',
    path: '/inference/v1/chat/completions',
    body: chatBody({ max_tokens: 16, stream: true }),
    headers: { ...JSON_TYPE, 'x-mock-inband-error-after': '2' },
    expected: (o) => done(o) && o.text.includes('"error"'),
    label: 'in-band error',
  },
];
