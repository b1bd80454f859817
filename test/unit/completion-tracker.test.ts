import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { CompletionTracker } from '../../src/llm/completion-tracker.js';
import { bytes, splitAt } from '../helpers/chunking.js';

const HEAD = '"id":"c1","object":"chat.completion.chunk","created":1,"model":"m"';
const chunk = (delta: string, finish = 'null') =>
  `data: {${HEAD},"choices":[{"index":0,"delta":${delta},"logprobs":null,"finish_reason":${finish}}]}\n\n`;
const ROLE = chunk('{"role":"assistant","content":""}');
const token = (i: number) => chunk(`{"content":" tok${i}"}`);
const FINISH = chunk('{}', '"length"');
const USAGE_ONLY = `data: {${HEAD},"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}\n\n`;
const DONE = 'data: [DONE]\n\n';
const KEEP_ALIVE = ': keep-alive\n\n';

/** A realistic vLLM chat stream with include_usage on, as a list of raw events. */
const EVENTS = [KEEP_ALIVE, ROLE, token(0), KEEP_ALIVE, token(1), token(2), FINISH, USAGE_ONLY, DONE];
const STREAM = Buffer.from(EVENTS.join(''));
const WITHOUT_USAGE = Buffer.from(EVENTS.filter((e) => e !== USAGE_ONLY).join(''));

function observeStream(events: readonly string[], options: { start?: number; contentType?: string } = {}) {
  const tracker = new CompletionTracker(options.start ?? performance.now(), false);
  tracker.onResponseStart(200, options.contentType ?? 'text/event-stream');
  assert.equal(tracker.filtering, false);
  for (const event of events) tracker.observe(Buffer.from(event));
  return tracker;
}

/** Runs the stream through a clock that advances 100 ms per event, starting at 1000; the request arrived at 900. */
function withClock<T>(run: (advance: () => void) => T): T {
  let now = 1000;
  const clock = mock.method(performance, 'now', () => now);
  try {
    return run(() => {
      now += 100;
    });
  } finally {
    clock.mock.restore();
  }
}

test('observe: a complete stream with usage', () => {
  const tracker = observeStream(EVENTS, { start: performance.now() - 50 });
  const result = tracker.result('end');
  assert.equal(result.outcome, 'completed');
  assert.equal(result.promptTokens, 5);
  assert.equal(result.completionTokens, 3);
  assert.equal(result.usageEstimated, false);
  assert.ok(result.ttftMs !== null && result.ttftMs >= 50, `ttftMs ${result.ttftMs}`);
});

test('observe: ttft and tpot from the first and last content events and the usage count', () => {
  const result = withClock((advance) => {
    const tracker = new CompletionTracker(900, false);
    tracker.onResponseStart(200, 'text/event-stream');
    // Clock at each event: keep-alive 1000, role 1100, tok0 1200, keep-alive 1300, tok1 1400, tok2 1500, ...
    for (const event of EVENTS) {
      tracker.observe(Buffer.from(event));
      advance();
    }
    return tracker.result('end');
  });
  assert.equal(result.ttftMs, 300);
  // (1500 - 1200) / (3 - 1)
  assert.equal(result.tpotMs, 150);
  assert.equal(result.completionTokens, 3);
});

test('observe: tpot divides by the reported completion tokens, not the event count', () => {
  // Three content events, but the backend reports 7 tokens (several tokens per event).
  const usage = `data: {${HEAD},"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}\n\n`;
  const result = withClock((advance) => {
    const tracker = new CompletionTracker(900, false);
    tracker.onResponseStart(200, 'text/event-stream; charset=utf-8');
    for (const event of [ROLE, token(0), token(1), token(2), FINISH, usage, DONE]) {
      tracker.observe(Buffer.from(event));
      advance();
    }
    return tracker.result('end');
  });
  assert.equal(result.ttftMs, 200);
  assert.equal(result.tpotMs, 200 / 6);
  assert.equal(result.completionTokens, 7);
  assert.equal(result.promptTokens, 5);
});

test('observe: the role-only chunk and keep-alive comments do not count', () => {
  const result = withClock((advance) => {
    const tracker = new CompletionTracker(900, false);
    tracker.onResponseStart(200, 'text/event-stream');
    for (const event of [KEEP_ALIVE, ROLE, KEEP_ALIVE, KEEP_ALIVE, token(0), FINISH, DONE]) {
      tracker.observe(Buffer.from(event));
      advance();
    }
    return tracker.result('end');
  });
  // tok0 is the fifth event: clock 1400.
  assert.equal(result.ttftMs, 500);
  assert.equal(result.completionTokens, 1);
  assert.equal(result.usageEstimated, true);
  // A single token has no time per output token.
  assert.equal(result.tpotMs, null);
});

test('observe: without usage the content events are counted as an estimate', () => {
  const tracker = observeStream([KEEP_ALIVE, ROLE, token(0), KEEP_ALIVE, token(1), token(2), token(3), FINISH, DONE]);
  const result = tracker.result('end');
  assert.equal(result.outcome, 'completed');
  assert.equal(result.usageEstimated, true);
  assert.equal(result.completionTokens, 4);
  assert.equal(result.promptTokens, null);
});

test('observe: OpenAI "usage":null on every chunk, then the usage chunk', () => {
  const withNull = (event: string) => event.replace('}]}\n\n', '}],"usage":null}\n\n');
  const events = [withNull(ROLE), withNull(token(0)), withNull(token(1)), withNull(FINISH), USAGE_ONLY, DONE];
  assert.ok(events[1]?.includes('"usage":null'));
  const result = observeStream(events).result('end');
  assert.equal(result.outcome, 'completed');
  assert.equal(result.promptTokens, 5);
  assert.equal(result.completionTokens, 3);
  assert.equal(result.usageEstimated, false);
});

test('observe: completions text stream', () => {
  const text = (t: string, finish = 'null') =>
    `data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":${JSON.stringify(t)},"logprobs":null,"finish_reason":${finish},"stop_reason":null}]}\n\n`;
  const result = observeStream([text(' tok0'), text(' tok1'), text('', '"length"'), DONE]).result('end');
  assert.equal(result.outcome, 'completed');
  assert.equal(result.completionTokens, 2);
  assert.equal(result.usageEstimated, true);
});

test('observe: every chunking of the stream gives the same result', () => {
  const expected = observeStream(EVENTS).result('end');
  const check = (chunks: Iterable<Buffer>, label: string) => {
    const tracker = new CompletionTracker(performance.now(), false);
    tracker.onResponseStart(200, 'text/event-stream');
    for (const piece of chunks) tracker.observe(piece);
    const result = tracker.result('end');
    assert.equal(result.outcome, expected.outcome, label);
    assert.equal(result.promptTokens, expected.promptTokens, label);
    assert.equal(result.completionTokens, expected.completionTokens, label);
    assert.equal(result.usageEstimated, expected.usageEstimated, label);
  };
  check(bytes(STREAM), 'bytes');
  for (let point = 0; point <= STREAM.length; point++) check(splitAt(STREAM, [point]), `split at ${point}`);
  const crlf = Buffer.from(STREAM.toString().replaceAll('\n', '\r\n'));
  check([crlf], 'crlf');
  check(bytes(crlf), 'crlf bytes');
});

test('observe: a stream that ends without [DONE] is an upstream error', () => {
  assert.equal(observeStream([ROLE, token(0), token(1)]).result('end').outcome, 'upstream_error');
  assert.equal(observeStream(EVENTS.slice(0, -1)).result('end').outcome, 'upstream_error');
  // [DONE] without its blank line is not a complete event.
  assert.equal(observeStream([...EVENTS.slice(0, -1), 'data: [DONE]\n']).result('end').outcome, 'upstream_error');
  // Nothing at all.
  assert.equal(observeStream([]).result('end').outcome, 'upstream_error');
  // Usage is still read from what arrived.
  assert.equal(observeStream(EVENTS.slice(0, -1)).result('end').completionTokens, 3);
});

test('observe: in-band errors under HTTP 200', () => {
  const vllm = 'data: {"object":"error","message":"x","type":"BadRequestError","param":null,"code":400}\n\n';
  const openai = 'data: {"error":{"message":"x","type":"server_error","param":null,"code":500}}\n\n';
  const dumped = 'data: {"error": {"object": "error", "message": "x", "type": "InternalServerError", "param": null, "code": 500}}\n\n';
  for (const error of [vllm, openai, dumped]) {
    assert.equal(observeStream([ROLE, token(0), error, DONE]).result('end').outcome, 'inband_error', error);
    assert.equal(observeStream([ROLE, token(0), error]).result('end').outcome, 'inband_error', error);
    assert.equal(observeStream([error, DONE]).result('end').outcome, 'inband_error', error);
    // An error event is not a content event.
    const result = observeStream([ROLE, error, DONE]).result('end');
    assert.equal(result.completionTokens, 0);
    assert.equal(result.ttftMs, null);
  }
});

test('observe: other endings are reported as they are', () => {
  for (const ending of ['client_disconnect', 'upstream_error', 'timeout'] as const) {
    assert.equal(observeStream(EVENTS).result(ending).outcome, ending);
    assert.equal(observeStream([ROLE, token(0)]).result(ending).outcome, ending);
  }
  const partial = observeStream([ROLE, token(0), token(1)]).result('client_disconnect');
  assert.equal(partial.completionTokens, 2);
  assert.equal(partial.usageEstimated, true);
});

test('observe: no content events means no ttft', () => {
  const result = observeStream([KEEP_ALIVE, ROLE, FINISH, DONE]).result('end');
  assert.equal(result.ttftMs, null);
  assert.equal(result.tpotMs, null);
  assert.equal(result.completionTokens, 0);
});

test('observe: a non-200 status or unknown content type is not tracked', () => {
  for (const [status, type] of [
    [500, 'text/event-stream'],
    [400, 'application/json'],
    [200, undefined],
    [200, 'text/plain'],
  ] as const) {
    const tracker = new CompletionTracker(performance.now(), false);
    tracker.onResponseStart(status, type);
    assert.equal(tracker.filtering, false);
    tracker.observe(STREAM);
    const result = tracker.result('end');
    assert.equal(result.promptTokens, null);
    assert.equal(result.completionTokens, null);
    assert.equal(result.usageEstimated, false);
    assert.equal(result.ttftMs, null);
    assert.equal(result.tpotMs, null);
  }
});

/** Feeds chunks through filter(), checking that each output ends on an event boundary of `expected`. */
function filterStream(chunks: Iterable<Buffer>, expected: Buffer, boundaries: ReadonlySet<number>, label: string) {
  const tracker = new CompletionTracker(performance.now(), true);
  assert.equal(tracker.filtering, false);
  tracker.onResponseStart(200, 'text/event-stream');
  assert.equal(tracker.filtering, true);
  const out: Buffer[] = [];
  let forwarded = 0;
  for (const piece of chunks) {
    const forward = tracker.filter(piece);
    if (forward === null) continue;
    assert.ok(forward.length > 0, `${label}: empty output`);
    forwarded += forward.length;
    assert.ok(boundaries.has(forwarded), `${label}: output ends mid-event at ${forwarded}`);
    out.push(Buffer.from(forward));
  }
  const rest = tracker.flush();
  if (rest !== null) out.push(rest);
  assert.deepEqual(Buffer.concat(out), expected, label);
  return tracker;
}

function boundariesOf(events: readonly string[]): Set<number> {
  const set = new Set<number>();
  let at = 0;
  for (const event of events) {
    at += Buffer.byteLength(event);
    set.add(at);
  }
  return set;
}

test('filter: the usage-only chunk is removed, every other byte forwarded', () => {
  const boundaries = boundariesOf(EVENTS.filter((e) => e !== USAGE_ONLY));
  const one = filterStream([STREAM], WITHOUT_USAGE, boundaries, 'one push');
  assert.equal(one.flush(), null);
  const result = one.result('end');
  assert.equal(result.outcome, 'completed');
  assert.equal(result.promptTokens, 5);
  assert.equal(result.completionTokens, 3);
  assert.equal(result.usageEstimated, false);
  filterStream(bytes(STREAM), WITHOUT_USAGE, boundaries, 'bytes');
  for (let point = 0; point <= STREAM.length; point++) {
    const tracker = filterStream(splitAt(STREAM, [point]), WITHOUT_USAGE, boundaries, `split at ${point}`);
    assert.equal(tracker.result('end').completionTokens, 3);
  }
});

test('filter: each event goes out as soon as it is complete', () => {
  const tracker = new CompletionTracker(performance.now(), true);
  tracker.onResponseStart(200, 'text/event-stream');
  assert.equal(tracker.filter(Buffer.from(ROLE))?.toString(), ROLE);
  assert.equal(tracker.filter(Buffer.from(token(0).slice(0, 20))), null);
  assert.equal(tracker.filter(Buffer.from(token(0).slice(20) + token(1).slice(0, 5)))?.toString(), token(0));
  assert.equal(tracker.filter(Buffer.from(token(1).slice(5)))?.toString(), token(1));
  assert.equal(tracker.filter(Buffer.from(USAGE_ONLY)), null);
  assert.equal(tracker.filter(Buffer.from(KEEP_ALIVE))?.toString(), KEEP_ALIVE);
  assert.equal(tracker.filter(Buffer.from(FINISH + USAGE_ONLY + DONE))?.toString(), FINISH + DONE);
  assert.equal(tracker.filter(Buffer.alloc(0)), null);
  assert.equal(tracker.flush(), null);
  const result = tracker.result('end');
  assert.equal(result.outcome, 'completed');
  assert.equal(result.completionTokens, 3);
});

test('filter: the caller may reuse its chunk buffers', () => {
  const tracker = new CompletionTracker(performance.now(), true);
  tracker.onResponseStart(200, 'text/event-stream');
  const out: Buffer[] = [];
  for (const piece of splitAt(STREAM, [7, 100, 101, 350, 600, 601, 700])) {
    const reused = Buffer.from(piece);
    const forward = tracker.filter(reused);
    if (forward !== null) out.push(Buffer.from(forward));
    reused.fill(0x78);
  }
  const rest = tracker.flush();
  if (rest !== null) out.push(rest);
  assert.deepEqual(Buffer.concat(out), WITHOUT_USAGE);
});

test('filter: \\r\\n endings and multi-line data', () => {
  const multiLine = `data: {${HEAD},"choices":[],\ndata: "usage":{"prompt_tokens":2,"completion_tokens":1,"total_tokens":3}}\n\n`;
  const events = [ROLE, token(0), multiLine, DONE].map((e) => e.replaceAll('\n', '\r\n'));
  const input = Buffer.from(events.join(''));
  const expected = Buffer.from([events[0], events[1], events[3]].join(''));
  const boundaries = boundariesOf([events[0], events[1], events[3]] as string[]);
  for (let point = 0; point <= input.length; point++) {
    const tracker = filterStream(splitAt(input, [point]), expected, boundaries, `split at ${point}`);
    const result = tracker.result('end');
    assert.equal(result.promptTokens, 2);
    assert.equal(result.completionTokens, 1);
  }
});

test('filter: chunks with usage and choices are kept', () => {
  // continuous_usage_stats: usage on every chunk, and a final usage-only chunk.
  const withUsage = (event: string, n: number) =>
    event.replace('}]}\n\n', `}],"usage":{"prompt_tokens":5,"completion_tokens":${n},"total_tokens":${5 + n}}}\n\n`);
  const kept = [withUsage(ROLE, 0), withUsage(token(0), 1), withUsage(token(1), 2), withUsage(FINISH, 2)];
  const usageOnly = `data: {${HEAD},"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}\n\n`;
  const input = Buffer.from([...kept, usageOnly, DONE].join(''));
  const tracker = filterStream([input], Buffer.from([...kept, DONE].join('')), boundariesOf([...kept, DONE]), 'continuous');
  assert.equal(tracker.result('end').completionTokens, 2);
});

test('filter: an incomplete last event is held, then flushed unchanged', () => {
  const tail = `data: {${HEAD},"choices":[{"index":0,"delta":{"content":" tr`;
  const events = [ROLE, token(0), USAGE_ONLY];
  const input = Buffer.from(events.join('') + tail);
  const expected = Buffer.from(ROLE + token(0) + tail);
  const boundaries = boundariesOf([ROLE, token(0)]);
  boundaries.add(expected.length);
  for (let point = 0; point <= input.length; point++) {
    const tracker = filterStream(splitAt(input, [point]), expected, boundaries, `split at ${point}`);
    assert.equal(tracker.flush(), null);
    const result = tracker.result('upstream_error');
    assert.equal(result.outcome, 'upstream_error');
    assert.equal(result.completionTokens, 3);
  }
  // The flushed tail is exactly the held bytes.
  const tracker = new CompletionTracker(performance.now(), true);
  tracker.onResponseStart(200, 'text/event-stream');
  assert.equal(tracker.filter(Buffer.from(ROLE + tail))?.toString(), ROLE);
  assert.equal(tracker.flush()?.toString(), tail);
  assert.equal(tracker.flush(), null);
  // A stream that is all tail.
  const only = new CompletionTracker(performance.now(), true);
  only.onResponseStart(200, 'text/event-stream');
  assert.equal(only.filter(Buffer.from('data: {"a"')), null);
  assert.equal(only.filter(Buffer.from(':1}\n')), null);
  assert.equal(only.flush()?.toString(), 'data: {"a":1}\n');
});

test('filter: in-band error events are forwarded and reported', () => {
  const error = 'data: {"error":{"message":"x","type":"server_error","code":500}}\n\n';
  const events = [ROLE, token(0), error];
  const tracker = filterStream([Buffer.from(events.join(''))], Buffer.from(events.join('')), boundariesOf(events), 'error');
  assert.equal(tracker.result('end').outcome, 'inband_error');
});

test('filter: not filtering when the client asked for usage, or the response is not a 200 stream', () => {
  const observe = new CompletionTracker(performance.now(), false);
  observe.onResponseStart(200, 'text/event-stream');
  assert.equal(observe.filtering, false);
  observe.observe(STREAM);
  const result = observe.result('end');
  assert.equal(result.promptTokens, 5);
  assert.equal(result.outcome, 'completed');

  for (const [status, type] of [
    [200, 'application/json'],
    [503, 'text/event-stream'],
    [200, undefined],
  ] as const) {
    const tracker = new CompletionTracker(performance.now(), true);
    tracker.onResponseStart(status, type);
    assert.equal(tracker.filtering, false, `${status} ${type}`);
  }
});

const JSON_BODY = JSON.stringify({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1,
  model: 'm',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hello "usage": {"prompt_tokens": 1}' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 12, completion_tokens: 34, total_tokens: 46 },
});

function observeJson(body: Buffer, status = 200, type = 'application/json', pieces = 7) {
  const tracker = new CompletionTracker(performance.now() - 10, false);
  tracker.onResponseStart(status, type);
  assert.equal(tracker.filtering, false);
  const size = Math.ceil(body.length / pieces);
  for (let at = 0; at < body.length; at += size) tracker.observe(body.subarray(at, at + size));
  return tracker;
}

test('json: usage read from a body observed in pieces', () => {
  for (const type of ['application/json', 'application/json; charset=utf-8']) {
    const result = observeJson(Buffer.from(JSON_BODY), 200, type).result('end');
    assert.deepEqual(result, {
      outcome: 'completed',
      promptTokens: 12,
      completionTokens: 34,
      usageEstimated: false,
      ttftMs: null,
      tpotMs: null,
    });
  }
  const pretty = Buffer.from(JSON.stringify(JSON.parse(JSON_BODY), null, 2));
  assert.equal(observeJson(pretty, 200, 'application/json', 1).result('end').completionTokens, 34);
  assert.equal(observeJson(pretty, 200, 'application/json', pretty.length).result('end').promptTokens, 12);
});

test('json: no usage, invalid JSON, or an error body', () => {
  const noUsage = observeJson(Buffer.from('{"id":"x","choices":[]}')).result('end');
  assert.equal(noUsage.outcome, 'completed');
  assert.equal(noUsage.promptTokens, null);
  assert.equal(noUsage.completionTokens, null);
  assert.equal(noUsage.usageEstimated, false);
  const invalid = observeJson(Buffer.from(JSON_BODY.slice(0, -5))).result('end');
  assert.equal(invalid.outcome, 'completed');
  assert.equal(invalid.completionTokens, null);
  const error = observeJson(Buffer.from('{"error":{"message":"x","type":"server_error","code":500}}')).result('end');
  assert.equal(error.outcome, 'inband_error');
});

test('json: a disconnect or timeout does not read the body', () => {
  for (const ending of ['client_disconnect', 'upstream_error', 'timeout'] as const) {
    const result = observeJson(Buffer.from(JSON_BODY)).result(ending);
    assert.equal(result.outcome, ending);
    assert.equal(result.completionTokens, null);
  }
});

test('json: a non-200 status is not tracked', () => {
  const result = observeJson(Buffer.from(JSON_BODY), 500).result('end');
  assert.equal(result.outcome, 'completed');
  assert.equal(result.promptTokens, null);
  assert.equal(result.completionTokens, null);
});

test('json: a body over 8 MiB is not read', () => {
  const limit = 8 * 1024 * 1024;
  const withPadding = (total: number) => {
    const shell = JSON.stringify({ pad: '', usage: { prompt_tokens: 1, completion_tokens: 2 } });
    return Buffer.from(shell.replace('"pad":""', `"pad":"${'x'.repeat(total - shell.length)}"`));
  };
  const atLimit = withPadding(limit);
  assert.equal(atLimit.length, limit);
  assert.equal(observeJson(atLimit, 200, 'application/json', 5).result('end').completionTokens, 2);
  const over = withPadding(limit + 1);
  assert.equal(over.length, limit + 1);
  const result = observeJson(over, 200, 'application/json', 5).result('end');
  assert.equal(result.promptTokens, null);
  assert.equal(result.completionTokens, null);
  assert.equal(result.outcome, 'completed');
});
