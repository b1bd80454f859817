import type { TestContext } from 'node:test';
import { Agent, request } from 'undici';
import type { MockBackend, MockBackendOptions } from '../../src/mock-backend/create-mock-backend.js';
import { createMockBackend } from '../../src/mock-backend/create-mock-backend.js';

/** An in-process mock backend and a client of its own; both closed when the test ends. */
export interface MockHarness {
  backend: MockBackend;
  post(path: string, body: unknown, headers?: Record<string, string>): ReturnType<typeof request>;
  get(path: string): ReturnType<typeof request>;
}

/** Starts a mock backend on a free loopback port for this test. */
export async function startMock(t: TestContext, options?: MockBackendOptions): Promise<MockHarness> {
  const backend = await createMockBackend(options);
  const agent = new Agent();
  t.after(async () => {
    await backend.close();
    await agent.destroy();
  });
  return {
    backend,
    post: (path, body, headers = {}) =>
      request(`${backend.url}${path}`, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      }),
    get: (path) => request(`${backend.url}${path}`, { dispatcher: agent }),
  };
}
