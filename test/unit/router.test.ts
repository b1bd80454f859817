import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KNOWN_ENDPOINTS, OTHER_ENDPOINT } from '../../src/metrics/definitions.js';
import { createRouter } from '../../src/worker/router.js';

const router = createRouter('/inference');

test('/metrics and /healthz are served locally on GET and HEAD', () => {
  for (const method of ['GET', 'HEAD']) {
    assert.deepEqual(router.route(method, '/metrics'), { kind: 'own', page: 'metrics' });
    assert.deepEqual(router.route(method, '/healthz'), { kind: 'own', page: 'healthz' });
    assert.deepEqual(router.route(method, '/metrics?name=x'), { kind: 'own', page: 'metrics' });
    assert.deepEqual(router.route(method, '/healthz?'), { kind: 'own', page: 'healthz' });
  }
});

test('/metrics and /healthz refuse other methods', () => {
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
    assert.deepEqual(router.route(method, '/metrics'), { kind: 'method-not-allowed', allow: 'GET, HEAD' });
    assert.deepEqual(router.route(method, '/healthz'), { kind: 'method-not-allowed', allow: 'GET, HEAD' });
  }
});

test('/metrics and /healthz are local even when stripping is off', () => {
  const bare = createRouter('');
  assert.deepEqual(bare.route('GET', '/metrics'), { kind: 'own', page: 'metrics' });
  assert.deepEqual(bare.route('GET', '/healthz'), { kind: 'own', page: 'healthz' });
});

test('a prefixed chat completion is proxied with the prefix removed', () => {
  assert.deepEqual(router.route('POST', '/inference/v1/chat/completions'), {
    kind: 'proxy',
    upstreamPath: '/v1/chat/completions',
    endpoint: '/v1/chat/completions',
    completion: 'chat',
    modelInBody: true,
    pathModel: null,
  });
});

test('a text completion is recognised with or without the prefix', () => {
  const expected = {
    kind: 'proxy',
    upstreamPath: '/v1/completions',
    endpoint: '/v1/completions',
    completion: 'text',
    modelInBody: true,
    pathModel: null,
  };
  assert.deepEqual(router.route('POST', '/v1/completions'), expected);
  assert.deepEqual(router.route('POST', '/inference/v1/completions'), expected);
});

test('a completion path is only a completion on POST', () => {
  for (const method of ['GET', 'HEAD', 'PUT', 'OPTIONS']) {
    assert.deepEqual(router.route(method, '/inference/v1/chat/completions'), {
      kind: 'proxy',
      upstreamPath: '/v1/chat/completions',
      endpoint: '/v1/chat/completions',
      completion: null,
      modelInBody: false,
      pathModel: null,
    });
  }
});

test('the query string stays in upstreamPath but not in endpoint', () => {
  assert.deepEqual(router.route('POST', '/inference/v1/chat/completions?stream=1&a=b'), {
    kind: 'proxy',
    upstreamPath: '/v1/chat/completions?stream=1&a=b',
    endpoint: '/v1/chat/completions',
    completion: 'chat',
    modelInBody: true,
    pathModel: null,
  });
  assert.deepEqual(router.route('GET', '/v1/models?x=/inference/y'), {
    kind: 'proxy',
    upstreamPath: '/v1/models?x=/inference/y',
    endpoint: '/v1/models',
    completion: null,
    modelInBody: false,
    pathModel: null,
  });
});

test('the bare prefix maps to /', () => {
  const root = { kind: 'proxy', upstreamPath: '/', endpoint: OTHER_ENDPOINT, completion: null, modelInBody: false, pathModel: null };
  assert.deepEqual(router.route('GET', '/inference'), root);
  assert.deepEqual(router.route('GET', '/inference/'), root);
  assert.deepEqual(router.route('GET', '/inference?x=1'), { ...root, upstreamPath: '/?x=1' });
  assert.deepEqual(router.route('GET', '/inference/?x=1'), { ...root, upstreamPath: '/?x=1' });
});

test('only a whole path segment matches the prefix', () => {
  assert.deepEqual(router.route('GET', '/inferencefoo'), {
    kind: 'proxy',
    upstreamPath: '/inferencefoo',
    endpoint: OTHER_ENDPOINT,
    completion: null,
    modelInBody: false,
    pathModel: null,
  });
  assert.deepEqual(router.route('POST', '/inferencev1/chat/completions'), {
    kind: 'proxy',
    upstreamPath: '/inferencev1/chat/completions',
    endpoint: OTHER_ENDPOINT,
    completion: null,
    modelInBody: false,
    pathModel: null,
  });
  assert.deepEqual(router.route('GET', '/api/inference/v1/models'), {
    kind: 'proxy',
    upstreamPath: '/api/inference/v1/models',
    endpoint: OTHER_ENDPOINT,
    completion: null,
    modelInBody: false,
    pathModel: null,
  });
});

test('the prefix is stripped once', () => {
  assert.deepEqual(router.route('GET', '/inference/inference/v1/models'), {
    kind: 'proxy',
    upstreamPath: '/inference/v1/models',
    endpoint: OTHER_ENDPOINT,
    completion: null,
    modelInBody: false,
    pathModel: null,
  });
});

test("prefix '' forwards every path as is", () => {
  const bare = createRouter('');
  assert.deepEqual(bare.route('GET', '/inference/v1/models'), {
    kind: 'proxy',
    upstreamPath: '/inference/v1/models',
    endpoint: OTHER_ENDPOINT,
    completion: null,
    modelInBody: false,
    pathModel: null,
  });
  assert.deepEqual(bare.route('POST', '/v1/chat/completions?x'), {
    kind: 'proxy',
    upstreamPath: '/v1/chat/completions?x',
    endpoint: '/v1/chat/completions',
    completion: 'chat',
    modelInBody: true,
    pathModel: null,
  });
  assert.deepEqual(bare.route('GET', '/'), {
    kind: 'proxy',
    upstreamPath: '/',
    endpoint: OTHER_ENDPOINT,
    completion: null,
    modelInBody: false,
    pathModel: null,
  });
});

test('a custom multi-segment prefix', () => {
  const custom = createRouter('/api/llm');
  assert.deepEqual(custom.route('POST', '/api/llm/v1/embeddings'), {
    kind: 'proxy',
    upstreamPath: '/v1/embeddings',
    endpoint: '/v1/embeddings',
    completion: null,
    modelInBody: true,
    pathModel: null,
  });
  assert.deepEqual(custom.route('GET', '/inference/v1/models').kind, 'proxy');
  assert.equal((custom.route('GET', '/inference/v1/models') as { upstreamPath: string }).upstreamPath, '/inference/v1/models');
});

test('every known endpoint is its own label, with and without the prefix', () => {
  for (const endpoint of KNOWN_ENDPOINTS) {
    for (const target of [endpoint, `/inference${endpoint}`, `/inference${endpoint}?q=1`]) {
      const route = router.route('GET', target);
      assert.equal(route.kind, 'proxy', target);
      if (route.kind === 'proxy') assert.equal(route.endpoint, endpoint, target);
    }
  }
});

test('unknown paths get endpoint other', () => {
  for (const target of [
    '/',
    '/v1',
    '/v1/models/',
    '/v1/models/abc',
    '/V1/MODELS',
    '/v1/chat/completions/',
    '/v2/chat/completions',
    '/favicon.ico',
  ]) {
    const route = router.route('POST', target);
    assert.deepEqual(
      route,
      { kind: 'proxy', upstreamPath: target, endpoint: OTHER_ENDPOINT, completion: null, modelInBody: false, pathModel: null },
      target,
    );
  }
});

test('/inference/metrics and /inference/healthz are proxied, not served locally', () => {
  assert.deepEqual(router.route('GET', '/inference/metrics'), {
    kind: 'proxy',
    upstreamPath: '/metrics',
    endpoint: OTHER_ENDPOINT,
    completion: null,
    modelInBody: false,
    pathModel: null,
  });
  assert.deepEqual(router.route('GET', '/inference/healthz'), {
    kind: 'proxy',
    upstreamPath: '/healthz',
    endpoint: OTHER_ENDPOINT,
    completion: null,
    modelInBody: false,
    pathModel: null,
  });
  assert.deepEqual(router.route('GET', '/metrics/'), {
    kind: 'proxy',
    upstreamPath: '/metrics/',
    endpoint: OTHER_ENDPOINT,
    completion: null,
    modelInBody: false,
    pathModel: null,
  });
});

test('targets that are not origin-form are refused', () => {
  for (const target of ['http://evil/', 'https://evil.example/v1/models', '*', '', 'evil.example:443', 'v1/models', '?x=1']) {
    assert.deepEqual(router.route('GET', target), { kind: 'bad-target' }, JSON.stringify(target));
    assert.deepEqual(router.route('POST', target), { kind: 'bad-target' }, JSON.stringify(target));
  }
});

test('random paths only ever yield known endpoints or other', () => {
  const allowed = new Set<string>([...KNOWN_ENDPOINTS, OTHER_ENDPOINT]);
  const pieces = [
    '',
    '/',
    'v1',
    'chat',
    'completions',
    'models',
    'inference',
    '..',
    '.',
    '%2F',
    '?',
    '#',
    'metrics',
    'a',
    'Ω',
    '//',
    '?q=/v1',
  ];
  // A fixed-seed generator keeps any failure reproducible.
  let seed = 0x2f6b_1d3c;
  const next = (): number => {
    seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
    return seed;
  };
  const prefixes = [createRouter('/inference'), createRouter('')];
  const methods = ['GET', 'POST', 'HEAD', 'PUT'];
  for (let i = 0; i < 5000; i++) {
    let target = '/';
    const parts = next() % 7;
    for (let p = 0; p < parts; p++) target += pieces[next() % pieces.length]! + (next() % 2 === 0 ? '/' : '');
    if (next() % 4 === 0) target = `/inference${target}`;
    if (next() % 5 === 0) target = KNOWN_ENDPOINTS[next() % KNOWN_ENDPOINTS.length]! + target.slice(1);
    const route = prefixes[i % 2]!.route(methods[next() % methods.length]!, target);
    if (route.kind !== 'proxy') {
      const what = route.kind === 'own' ? route.page : route.kind;
      assert.ok(['metrics', 'healthz', 'method-not-allowed'].includes(what), `${target} -> ${what}`);
      continue;
    }
    assert.ok(allowed.has(route.endpoint), `${target} -> ${route.endpoint}`);
    assert.ok(route.upstreamPath.startsWith('/'), `${target} -> ${route.upstreamPath}`);
    if (route.completion !== null) assert.ok(route.endpoint === '/v1/chat/completions' || route.endpoint === '/v1/completions');
  }
});

test('POST routes whose JSON body names the model read it; GET /v1/models/{id} names it in the path', () => {
  for (const path of [
    '/v1/embeddings',
    '/v1/responses',
    '/v1/rerank',
    '/v2/rerank',
    '/rerank',
    '/v1/score',
    '/score',
    '/pooling',
    '/classify',
    '/tokenize',
    '/detokenize',
    '/v1/messages',
    '/v1/messages/count_tokens',
  ]) {
    const route = router.route('POST', `/inference${path}`);
    assert.equal(route.kind === 'proxy' && route.modelInBody, true, path);
    const get = router.route('GET', path);
    assert.equal(get.kind === 'proxy' && get.modelInBody, false, `GET ${path}`);
  }
  const card = router.route('GET', '/inference/v1/models/org%2Fllama-3?x=1');
  assert.deepEqual(card, {
    kind: 'proxy',
    upstreamPath: '/v1/models/org%2Fllama-3?x=1',
    endpoint: OTHER_ENDPOINT,
    completion: null,
    modelInBody: false,
    pathModel: 'org/llama-3',
  });
  for (const [method, target] of [
    ['POST', '/v1/models/a'],
    ['GET', '/v1/models/'],
    ['GET', '/v1/models/%E0%A4%A'],
  ]) {
    const route = router.route(method as string, target as string);
    assert.equal(route.kind === 'proxy' && route.pathModel, null, `${method} ${target}`);
  }
});
