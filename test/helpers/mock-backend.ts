import type { TestContext } from 'node:test';
import { createMockBackend, type MockBackend } from '../../src/mock-backend/create-mock-backend.js';

/** The simulated OpenAI backend on loopback (`port` 0: any free one), closed when the test ends. */
export async function startMockBackend(t: TestContext, port = 0): Promise<MockBackend> {
  const mock = await createMockBackend({ port });
  t.after(() => mock.close());
  return mock;
}
