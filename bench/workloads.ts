export const WORKLOAD_NAMES = ['small', 'chat'] as const;
export type WorkloadName = (typeof WORKLOAD_NAMES)[number];

export interface Workload {
  name: WorkloadName;
  title: string;
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

const CHAT_BODY = JSON.stringify({ model: 'mock-model', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });

export const WORKLOADS: Readonly<Record<WorkloadName, Workload>> = {
  small: { name: 'small', title: 'small GET /v1/models', method: 'GET', path: '/v1/models' },
  chat: {
    name: 'chat',
    title: 'non-streamed POST /v1/chat/completions (max_tokens 16, ttft 0, token delay 0)',
    method: 'POST',
    path: '/v1/chat/completions',
    headers: { 'content-type': 'application/json' },
    body: CHAT_BODY,
  },
};
