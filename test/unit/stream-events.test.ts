import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { classifyEvent, type EventFacts } from '../../src/llm/stream-events.js';

const HEAD = '"id":"c1","object":"chat.completion.chunk","created":1,"model":"m"';
const chat = (delta: string, finish = 'null', extra = '') =>
  `{${HEAD},"choices":[{"index":0,"delta":${delta},"logprobs":null,"finish_reason":${finish}}]${extra}}`;
const completion = (text: string, finish = 'null', extra = '') =>
  `{"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":${JSON.stringify(text)},"logprobs":null,"finish_reason":${finish},"stop_reason":null}]${extra}}`;
const USAGE = '"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}';

/** The event's data as the scanner hands it over: one latin1 char per byte of its UTF-8. */
const classify = (data: string) => classifyEvent(Buffer.from(data, 'utf8').toString('latin1'));
const facts = (kind: EventFacts['kind'], extra: Partial<EventFacts> = {}): EventFacts => ({
  kind,
  usage: null,
  usageOnly: false,
  error: false,
  ...extra,
});

test('[DONE] is done', () => {
  assert.deepEqual(classify('[DONE]'), facts('done'));
  assert.notEqual(classify('[DONE] ').kind, 'done');
  assert.notEqual(classify('[done]').kind, 'done');
});

test('chat content chunks are content', () => {
  assert.deepEqual(classify(chat('{"content":" tok0"}')), facts('content'));
  assert.deepEqual(classify(chat('{"content":"\\n"}')), facts('content'));
  assert.deepEqual(classify(chat('{"content":" \u00e9\u4e2d\ud83d\ude00"}')), facts('content'));
  assert.deepEqual(classify(chat('{"content":"\\"quoted\\""}')), facts('content'));
  // A content chunk that also carries the role (some servers send both in the first chunk).
  assert.deepEqual(classify(chat('{"role":"assistant","content":"Hi"}')), facts('content'));
});

test('the role-only first chat chunk is not content', () => {
  assert.deepEqual(classify(chat('{"role":"assistant","content":""}')), facts('other'));
  assert.deepEqual(classify(chat('{"role":"assistant"}')), facts('other'));
  assert.deepEqual(classify(chat('{"role":"assistant","content":null}')), facts('other'));
});

test('empty and null content are not content', () => {
  assert.deepEqual(classify(chat('{"content":""}')), facts('other'));
  assert.deepEqual(classify(chat('{"content": ""}')), facts('other'));
  assert.deepEqual(classify(chat('{"content":null}')), facts('other'));
  assert.deepEqual(classify(chat('{"content": null}')), facts('other'));
  assert.deepEqual(classify(completion('')), facts('other'));
});

test('finish chunks are not content', () => {
  assert.deepEqual(classify(chat('{}', '"length"')), facts('other'));
  assert.deepEqual(classify(chat('{"content":null}', '"stop"')), facts('other'));
  assert.deepEqual(classify(completion('', '"length"')), facts('other'));
  // A last token delivered together with the finish reason is content.
  assert.deepEqual(classify(chat('{"content":"."}', '"stop"')), facts('content'));
  assert.deepEqual(classify(completion('.', '"stop"')), facts('content'));
});

test('completions text chunks are content', () => {
  assert.deepEqual(classify(completion(' tok0')), facts('content'));
  assert.deepEqual(classify(completion('\u4e2d')), facts('content'));
});

test('completions logprobs keys do not count as text', () => {
  const withLogprobs =
    '{"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":"","logprobs":{"text_offset":[0],"token_logprobs":[-0.1],"tokens":["x"],"top_logprobs":[{"x":-0.1}]},"finish_reason":"length"}]}';
  assert.deepEqual(classify(withLogprobs), facts('other'));
});

test('chat logprobs content arrays do not count as content', () => {
  const data = chat('{"role":"assistant","content":""}', 'null').replace(
    '"logprobs":null',
    '"logprobs":{"content":[{"token":"x","logprob":-0.1,"bytes":[120],"top_logprobs":[]}]}',
  );
  assert.deepEqual(classify(data), facts('other'));
});

test('pretty-printed JSON with spaces', () => {
  const pretty = (delta: unknown) =>
    JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: null }] }, null, 2).replace(
      /":/g,
      '" :',
    );
  assert.deepEqual(classify(pretty({ content: ' x' })), facts('content'));
  assert.deepEqual(classify(pretty({ role: 'assistant', content: '' })), facts('other'));
  assert.deepEqual(classify(pretty({ tool_calls: [{ index: 0, function: { arguments: '{' } }] })), facts('content'));
  assert.deepEqual(classify(pretty({ tool_calls: [] })), facts('other'));
  assert.deepEqual(classify('{"choices": [{"index": 0, "delta": {"content": " x"}}]}'), facts('content'));
});

test('tool_calls deltas are content; an empty tool_calls array is not', () => {
  assert.deepEqual(
    classify(chat('{"tool_calls":[{"id":"call_1","type":"function","index":0,"function":{"name":"get_weather","arguments":""}}]}')),
    facts('content'),
  );
  assert.deepEqual(classify(chat('{"tool_calls":[{"index":0,"function":{"arguments":"{"}}]}')), facts('content'));
  assert.deepEqual(classify(chat('{"content":null,"tool_calls":[{"index":0,"function":{"arguments":"\\"city\\""}}]}')), facts('content'));
  assert.deepEqual(classify(chat('{"tool_calls":[]}')), facts('other'));
  assert.deepEqual(classify(chat('{"role":"assistant","content":"","tool_calls":[]}')), facts('other'));
  assert.deepEqual(classify(chat('{"tool_calls":null}')), facts('other'));
});

test('reasoning_content and reasoning are content', () => {
  assert.deepEqual(classify(chat('{"reasoning_content":"Let me think"}')), facts('content'));
  assert.deepEqual(classify(chat('{"role":"assistant","content":"","reasoning_content":"Hmm"}')), facts('content'));
  assert.deepEqual(classify(chat('{"reasoning":"step"}')), facts('content'));
  assert.deepEqual(classify(chat('{"reasoning_content":""}')), facts('other'));
  assert.deepEqual(classify(chat('{"reasoning_content":null,"content":""}')), facts('other'));
});

test('escaped key text inside another field does not fool the detection', () => {
  // Tool arguments whose text contains "content":"x" and "usage":{...}; the chunk itself has no content.
  const args = JSON.stringify('{"content":"x","text":"y","usage":{"prompt_tokens":1,"completion_tokens":1},"error":{}}');
  assert.deepEqual(classify(chat(`{"content":"","note":${args}}`)), facts('other'));
  assert.deepEqual(classify(chat(`{"content":null,"note":${JSON.stringify('"object":"error"')}}`)), facts('other'));
  // The same text as content: content, with no usage and no error.
  assert.deepEqual(classify(chat(`{"content":${args}}`)), facts('content'));
  assert.deepEqual(classify(chat(`{"content":${JSON.stringify('{"error": {"message": "x"}}')}}`)), facts('content'));
});

test('a later key counts when an earlier one of the same name does not', () => {
  assert.deepEqual(classify('{"logprobs":{"content":[]},"delta":{"content":""}}'), facts('other'));
  assert.deepEqual(classify('{"logprobs":{"content":null},"delta":{"content":"hi"}}'), facts('content'));
  assert.deepEqual(classify('{"a":{"content":""},"b":{"content":"x"}}'), facts('content'));
  assert.deepEqual(classify('{"a":{"tool_calls":[]},"b":{"tool_calls":[1]}}'), facts('content'));
  assert.deepEqual(
    classify('{"a":{"usage":null},"usage":{"prompt_tokens":5,"completion_tokens":3}}'),
    facts('other', { usage: { promptTokens: 5, completionTokens: 3 } }),
  );
  // The old error shape is read at the first "object" key only (a top-level one comes first in vLLM's errors).
  assert.deepEqual(classify('{"object":"error","data":{"object":"list"}}'), facts('other', { error: true }));
  assert.deepEqual(classify('{"object":"chat.completion.chunk","data":{"object":"error"}}'), facts('other'));
});

test('keys are found by the colon after them: colons inside values and keys without one are not keys', () => {
  assert.deepEqual(classify(chat('{"content":"a: b"}')), facts('content'));
  assert.deepEqual(classify(chat('{"content":":"}')), facts('content'));
  assert.deepEqual(classify('{"choices":[{"delta":{"role":"content","x":"usage"}}]}'), facts('other'));
  assert.deepEqual(classify(JSON.stringify({ note: `"content": "x", "usage": {"a": 1}` })), facts('other'));
});

test('usage chunks: usage read exactly; usageOnly only with choices []', () => {
  assert.deepEqual(
    classify(`{${HEAD},"choices":[],${USAGE}}`),
    facts('other', { usage: { promptTokens: 5, completionTokens: 3 }, usageOnly: true }),
  );
  assert.deepEqual(
    classify(`{${HEAD}, "choices": [ ], "usage": {"prompt_tokens": 1234567, "completion_tokens": 0, "total_tokens": 1234567}}`),
    facts('other', { usage: { promptTokens: 1234567, completionTokens: 0 }, usageOnly: true }),
  );
  // vLLM continuous_usage_stats: usage on a content chunk.
  assert.deepEqual(
    classify(chat('{"content":" tok0"}', 'null', `,${USAGE}`)),
    facts('content', { usage: { promptTokens: 5, completionTokens: 3 } }),
  );
  // Usage on the finish chunk.
  assert.deepEqual(classify(chat('{}', '"length"', `,${USAGE}`)), facts('other', { usage: { promptTokens: 5, completionTokens: 3 } }));
  assert.deepEqual(classify(completion('', '"length"', `,${USAGE}`)), facts('other', { usage: { promptTokens: 5, completionTokens: 3 } }));
  // choices missing: not the include_usage chunk.
  assert.deepEqual(classify(`{${HEAD},${USAGE}}`), facts('other', { usage: { promptTokens: 5, completionTokens: 3 } }));
  // The usage-only completions chunk.
  assert.deepEqual(
    classify(`{"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[],${USAGE}}`),
    facts('other', { usage: { promptTokens: 5, completionTokens: 3 }, usageOnly: true }),
  );
});

test('"usage":null in every chunk (OpenAI with include_usage) is no usage', () => {
  assert.deepEqual(classify(chat('{"content":" tok0"}', 'null', ',"usage":null')), facts('content'));
  assert.deepEqual(classify(chat('{"role":"assistant","content":""}', 'null', ',"usage":null')), facts('other'));
  assert.deepEqual(classify(`{${HEAD},"choices":[],"usage":null}`), facts('other'));
  assert.deepEqual(classify(chat('{}', '"stop"', ', "usage": null')), facts('other'));
});

test('usage with missing or invalid counts is null', () => {
  assert.equal(classify(`{${HEAD},"choices":[],"usage":{}}`).usage, null);
  assert.equal(classify(`{${HEAD},"choices":[],"usage":{"prompt_tokens":5}}`).usage, null);
  assert.equal(classify(`{${HEAD},"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":-1}}`).usage, null);
  assert.equal(classify(`{${HEAD},"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1.5}}`).usage, null);
  assert.equal(classify(`{${HEAD},"choices":[],"usage":{"prompt_tokens":"5","completion_tokens":3}}`).usage, null);
  assert.equal(classify(`{${HEAD},"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3}`).usage, null); // truncated JSON
  assert.equal(classify(`{${HEAD},"choices":[],"usage":{}}`).usageOnly, false);
});

test('in-band errors: both shapes', () => {
  assert.deepEqual(
    classify('{"object":"error","message":"x","type":"BadRequestError","param":null,"code":400}'),
    facts('other', { error: true }),
  );
  assert.deepEqual(classify('{"error":{"message":"x","type":"server_error","param":null,"code":500}}'), facts('other', { error: true }));
  // vLLM serialises with json.dumps: spaces after colons and commas.
  assert.deepEqual(
    classify('{"error": {"object": "error", "message": "x", "type": "BadRequestError", "param": null, "code": 400}}'),
    facts('other', { error: true }),
  );
  // An error whose message mentions content is still an error, not content.
  assert.deepEqual(
    classify('{"error":{"message":"bad \\"content\\": \\"x\\"","type":"server_error","code":500},"content":"x"}'),
    facts('other', { error: true }),
  );
  // "error": null, or an error string inside content, is no error.
  assert.deepEqual(classify(chat('{"content":" tok0"}', 'null', ',"error":null')), facts('content'));
  assert.deepEqual(classify(chat('{"content":"error"}')), facts('content'));
});

test('in-band error with "object": "error" and spaces (pretty JSON)', () => {
  assert.deepEqual(
    classify('{"object": "error", "message": "x", "type": "BadRequestError", "param": null, "code": 400}'),
    facts('other', { error: true }),
  );
});

test('data that is not JSON is other', () => {
  assert.deepEqual(classify(''), facts('other'));
  assert.deepEqual(classify('hello'), facts('other'));
  assert.deepEqual(classify('{"usage":{'), facts('other'));
  assert.deepEqual(classify('{"error":{'), facts('other'));
  assert.deepEqual(classify('"usage"'), facts('other'));
});

test('multi-line data (joined with \\n) is classified like one line', () => {
  assert.deepEqual(
    classify(`{${HEAD},"choices":[],\n${USAGE}}`),
    facts('other', { usage: { promptTokens: 5, completionTokens: 3 }, usageOnly: true }),
  );
  assert.deepEqual(classify('{"choices":[{"index":0,\n"delta":{"content":\n" x"}}]}'), facts('content'));
  assert.deepEqual(classify('{"error":\n{"message":"x","code":500}}'), facts('other', { error: true }));
});

test('token chunks are classified without JSON.parse; only usage and error events are parsed', () => {
  const parse = mock.method(JSON, 'parse');
  try {
    const cheap = [
      '[DONE]',
      chat('{"role":"assistant","content":""}'),
      chat('{"content":" tok0"}'),
      chat('{"content":" tok1"}', 'null', ',"usage":null'),
      chat('{"tool_calls":[{"index":0,"function":{"arguments":"{"}}]}'),
      chat('{}', '"length"'),
      completion(' tok0'),
      chat(`{"content":${JSON.stringify('"usage":{"prompt_tokens":1},"error":{}')}}`),
    ];
    for (const data of cheap) classify(data);
    assert.equal(parse.mock.callCount(), 0);
    classify(`{${HEAD},"choices":[],${USAGE}}`);
    classify('{"error":{"message":"x","type":"server_error","code":500}}');
    assert.equal(parse.mock.callCount(), 2);
  } finally {
    parse.mock.restore();
  }
});

test('a refusal delta is generated content', () => {
  assert.equal(classify('{"choices":[{"index":0,"delta":{"refusal":"I cannot"}}]}').kind, 'content');
  assert.equal(classify('{"choices":[{"index":0,"delta":{"refusal":null}}]}').kind, 'other');
});
