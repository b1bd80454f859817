import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventually } from '../../support/wait.js';
import { metricValue, postChat, scrape, startFleetProxy, startMocks } from '../helpers/fleet.js';
import { send } from '../helpers/http.js';

const TEST = { timeout: 60_000 };

test(
  'models: each request goes only to the backends that serve its model; an unknown model gets 404 and no backend is contacted',
  TEST,
  async (t) => {
    const [llama, qwen, both] = await startMocks(t, [{ models: ['llama'] }, { models: ['qwen'] }, { models: ['llama', 'qwen'] }]);
    const mocks = [llama!, qwen!, both!];
    const proxy = await startFleetProxy(
      t,
      mocks.map((mock) => mock.url),
      ['--workers', '2', '--discovery-interval', '30s'],
    );
    // Discovery reads every backend's /v1/models once at start.
    const listed = await eventually(
      'the merged model list',
      async () => JSON.parse((await send(`${proxy.url}/v1/models`)).text) as { object: string; data: Array<{ id: string }> },
      (body) => body.data.length === 2,
    );
    assert.equal(listed.object, 'list');
    assert.deepEqual(listed.data.map((card) => card.id).sort(), ['llama', 'qwen']);
    assert.deepEqual(JSON.parse((await send(`${proxy.url}/inference/v1/models`)).text), listed, 'the same under the prefix');
    for (const mock of mocks) assert.equal(mock.stats.modelListRequests, 1, 'read once, by the primary only');

    // A backend asked for a model it does not serve answers 404, as vLLM does: every 200 is a correct route.
    for (let i = 0; i < 12; i++) assert.equal((await postChat(proxy.url, { model: 'llama' })).status, 200);
    for (let i = 0; i < 12; i++) assert.equal((await postChat(proxy.url, { model: 'qwen' })).status, 200);
    assert.equal(qwen!.stats.completionRequests + llama!.stats.completionRequests + both!.stats.completionRequests, 24);
    assert.ok(llama!.stats.completionRequests > 0 && qwen!.stats.completionRequests > 0 && both!.stats.completionRequests > 0);
    const before = mocks.map((mock) => mock.stats.completionRequests);

    const unknown = await postChat(proxy.url, { model: 'mistral' });
    assert.equal(unknown.status, 404);
    assert.deepEqual(JSON.parse(unknown.text), {
      error: { message: 'no backend serves the model "mistral"', type: 'invalid_request_error', code: 'model_not_found' },
    });
    assert.deepEqual(
      mocks.map((mock) => mock.stats.completionRequests),
      before,
      'no backend was contacted',
    );
    const samples = await scrape(proxy);
    assert.equal(metricValue(samples, 'output_requests_total', { url: 'none', endpoint: '/v1/chat/completions', status: '404' }), 1);
    assert.equal(metricValue(samples, 'backend_models', { url: llama!.url, model: 'llama' }), 1);
    assert.equal(metricValue(samples, 'backend_models', { url: both!.url, model: 'qwen' }), 1);
    assert.equal(metricValue(samples, 'backend_models', { url: llama!.url, model: 'qwen' }), 0);
  },
);

test('a model goes nowhere else: every llama request lands on a backend that serves llama', TEST, async (t) => {
  const [llama, qwen] = await startMocks(t, [{ models: ['llama'] }, { models: ['qwen'] }]);
  const proxy = await startFleetProxy(t, [llama!.url, qwen!.url], ['--workers', '1', '--discovery-interval', '30s']);
  await eventually(
    'discovery',
    async () => (await send(`${proxy.url}/v1/models`)).text,
    (text) => text.includes('qwen'),
  );
  for (let i = 0; i < 10; i++) assert.equal((await postChat(proxy.url, { model: 'llama' })).status, 200);
  assert.equal(llama!.stats.completionRequests, 10);
  assert.equal(qwen!.stats.completionRequests, 0);
});

test('--unknown-model pass sends a model nobody lists to any backend (servers that take any name)', TEST, async (t) => {
  const [a, b] = await startMocks(t, [
    { models: ['llama'], anyModel: true },
    { models: ['qwen'], anyModel: true },
  ]);
  const proxy = await startFleetProxy(t, [a!.url, b!.url], ['--workers', '1', '--discovery-interval', '30s', '--unknown-model', 'pass']);
  await eventually(
    'discovery',
    async () => (await send(`${proxy.url}/v1/models`)).text,
    (text) => text.includes('qwen'),
  );
  for (let i = 0; i < 4; i++) assert.equal((await postChat(proxy.url, { model: 'anything' })).status, 200);
  assert.deepEqual([a!.stats.completionRequests, b!.stats.completionRequests], [2, 2]);
});

test('a backend whose model list is unknown (no /v1/models) is eligible for every model', TEST, async (t) => {
  const [known, unknown] = await startMocks(t, [{ models: ['llama'] }, { models: ['qwen'], listModels: false, anyModel: true }]);
  const proxy = await startFleetProxy(t, [known!.url, unknown!.url], ['--workers', '1', '--discovery-interval', '30s']);
  await eventually(
    'discovery',
    async () => (await send(`${proxy.url}/v1/models`)).text,
    (text) => text.includes('llama'),
  );
  for (let i = 0; i < 4; i++) assert.equal((await postChat(proxy.url, { model: 'llama' })).status, 200);
  assert.deepEqual([known!.stats.completionRequests, unknown!.stats.completionRequests], [2, 2]);
  assert.equal((await postChat(proxy.url, { model: 'other' })).status, 200, 'only the unknown one can take it');
  assert.equal(unknown!.stats.completionRequests, 3);
});

test(
  'every request that names a model is routed by it: embeddings, rerank, score, tokenize, responses, messages, GET /v1/models/{id}',
  TEST,
  async (t) => {
    const [chatOnly, embedOnly] = await startMocks(t, [{ models: ['chat-model'] }, { models: ['embed-model'] }]);
    const proxy = await startFleetProxy(t, [chatOnly!.url, embedOnly!.url], ['--workers', '2', '--discovery-interval', '30s']);
    await eventually(
      'both model lists read',
      async () => (JSON.parse((await send(`${proxy.url}/v1/models`)).text) as { data: unknown[] }).data.length,
      (count) => count === 2,
    );
    const json = { 'content-type': 'application/json' };
    // Every embeddings call reaches the one backend that serves its model (the other would answer 404).
    for (let i = 0; i < 10; i++) {
      const res = await send(`${proxy.url}/v1/embeddings`, {
        headers: json,
        body: JSON.stringify({ model: 'embed-model', input: `text ${i}` }),
      });
      assert.equal(res.status, 200, res.text);
    }
    assert.equal(embedOnly!.stats.embeddingsRequests, 10);
    assert.equal(chatOnly!.stats.embeddingsRequests, 0);

    const card = await send(`${proxy.url}/inference/v1/models/embed-model`);
    assert.equal(card.status, 200);
    assert.equal((JSON.parse(card.text) as { id: string }).id, 'embed-model');
    assert.equal((await send(`${proxy.url}/v1/models/chat-model`)).status, 200);

    // The routes the mock does not serve answer 404 from whichever backend got them: the access log says which.
    const routed = ['/v1/rerank', '/v1/score', '/tokenize', '/v1/responses', '/v1/messages'];
    for (const path of routed)
      await send(`${proxy.url}${path}`, { headers: json, body: JSON.stringify({ model: 'embed-model', input: 'x' }) });
    const lines = await eventually(
      'an access line for each routed request',
      () => proxy.lines.filter((line) => line.msg === 'access' && routed.includes(line.path as string)),
      (found) => found.length === routed.length,
    );
    for (const line of lines) {
      assert.equal(line.backend, embedOnly!.url, `${line.path} went to the backend serving its model`);
      assert.equal(line.model, 'embed-model');
    }

    // An unknown model gets the proxy's model_not_found everywhere, and no backend hears of it.
    const before = [chatOnly!.stats.requests, embedOnly!.stats.requests];
    const unknownEmbedding = await send(`${proxy.url}/v1/embeddings`, {
      headers: json,
      body: JSON.stringify({ model: 'nope', input: 'x' }),
    });
    assert.equal(unknownEmbedding.status, 404);
    assert.equal((JSON.parse(unknownEmbedding.text) as { error: { code: string } }).error.code, 'model_not_found');
    const unknownCard = await send(`${proxy.url}/v1/models/nope`);
    assert.equal(unknownCard.status, 404);
    assert.equal((JSON.parse(unknownCard.text) as { error: { code: string } }).error.code, 'model_not_found');
    assert.deepEqual([chatOnly!.stats.requests, embedOnly!.stats.requests], before);
  },
);

test(
  'GET /v1/models lists the up backends’ models; in panic mode (none up) every backend’s, since every backend is tried',
  TEST,
  async (t) => {
    const [llama, qwen] = await startMocks(t, [{ models: ['llama'] }, { models: ['qwen'] }]);
    const proxy = await startFleetProxy(
      t,
      [llama!.url, qwen!.url],
      ['--workers', '1', '--discovery-interval', '30s', '--health-interval', '100', '--unhealthy-threshold', '1'],
    );
    const listed = async (): Promise<string> =>
      (JSON.parse((await send(`${proxy.url}/v1/models`)).text) as { data: Array<{ id: string }> }).data
        .map((card) => card.id)
        .sort()
        .join();
    await eventually('both backends’ models', listed, (ids) => ids === 'llama,qwen');
    llama!.control({ health: 503 });
    await eventually('llama’s backend down: its model is not offered', listed, (ids) => ids === 'qwen');
    qwen!.control({ health: 503 });
    // Panic mode: requests go to every backend, so every backend's models are offered again.
    await eventually('no backend up: every backend’s models', listed, (ids) => ids === 'llama,qwen');
    assert.equal((await postChat(proxy.url, { model: 'llama' })).status, 200, 'and a request for one is served');
  },
);
