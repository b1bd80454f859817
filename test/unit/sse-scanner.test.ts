import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SseScanner } from '../../src/llm/sse-scanner.js';
import { prng } from '../../support/prng.js';
import { bytes, splitAt } from '../helpers/chunking.js';

const ROLE =
  '{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}';
const token = (i: number) =>
  `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":" tok${i}"},"logprobs":null,"finish_reason":null}]}`;
const FINISH =
  '{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"length"}]}';
const USAGE_ONLY =
  '{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}';

/** One raw SSE event (with its blank line) and the data the scanner should report for it (null: none). */
interface RawEvent {
  readonly text: string;
  readonly data: string | null;
}

const EVENTS: readonly RawEvent[] = [
  { text: ': keep-alive\n\n', data: null },
  { text: `data: ${ROLE}\n\n`, data: ROLE },
  { text: `data: ${token(0)}\n\n`, data: token(0) },
  { text: `data: ${token(1)}\r\n\r\n`, data: token(1) },
  { text: ': keep-alive\r\n\r\n', data: null },
  { text: `event: message\nid: 7\nretry: 1000\ndata: ${token(2)}\n\n`, data: token(2) },
  { text: `data:${token(3)}\n\n`, data: token(3) },
  {
    text: `: comment inside\ndata: {"id":"c1","choices":[{"index":0,\ndata: "delta":{"content":" \u00e9\u4e2d\ud83d\ude00"}}]}\n\n`,
    data: '{"id":"c1","choices":[{"index":0,\n"delta":{"content":" \u00e9\u4e2d\ud83d\ude00"}}]}',
  },
  { text: `data: ${FINISH}\n\n`, data: FINISH },
  { text: `data: ${USAGE_ONLY}\n\n`, data: USAGE_ONLY },
  { text: 'data: [DONE]\n\n', data: '[DONE]' },
];
const STREAM = Buffer.from(EVENTS.map((e) => e.text).join(''));
const EXPECTED = EVENTS.filter((e) => e.data !== null).map((e) => e.data as string);

function scan(chunks: Iterable<Buffer>, drop?: (data: string) => boolean) {
  const events: string[] = [];
  const scanner = new SseScanner((data) => {
    const text = Buffer.from(data, 'latin1').toString('utf8');
    events.push(text);
    return drop?.(text) ?? false;
  });
  for (const chunk of chunks) scanner.push(chunk);
  return { events, scanner };
}

function* randomChunks(buf: Buffer, random: () => number, maxSize: number): Generator<Buffer> {
  let at = 0;
  while (at < buf.length) {
    const size = Math.floor(random() * (maxSize + 1)); // 0 included: empty chunks too
    yield buf.subarray(at, at + size);
    at += size;
  }
}

test('one push yields every data payload in order', () => {
  const { events, scanner } = scan([STREAM]);
  assert.deepEqual(events, EXPECTED);
  assert.equal(scanner.completeUpTo, STREAM.length);
  assert.deepEqual(scanner.dropped, []);
});

test('every single split point yields the same events', () => {
  for (let point = 0; point <= STREAM.length; point++) {
    const { events, scanner } = scan(splitAt(STREAM, [point]));
    assert.deepEqual(events, EXPECTED, `split at ${point}`);
    assert.equal(scanner.completeUpTo, STREAM.length);
  }
});

test('one byte at a time yields the same events', () => {
  const { events, scanner } = scan(bytes(STREAM));
  assert.deepEqual(events, EXPECTED);
  assert.equal(scanner.completeUpTo, STREAM.length);
});

test('random chunkings (seeded) yield the same events', () => {
  const random = prng(0xc0ffee);
  for (let round = 0; round < 300; round++) {
    const maxSize = 1 + Math.floor(random() * 64);
    const { events } = scan(randomChunks(STREAM, random, maxSize));
    assert.deepEqual(events, EXPECTED, `round ${round}`);
  }
});

test('the data handed to the handler is not disturbed by later chunks', () => {
  const kept: string[] = [];
  const scanner = new SseScanner((data) => {
    kept.push(data);
    return false;
  });
  // The caller may reuse its chunk buffers: overwrite each after pushing it.
  for (const piece of splitAt(STREAM, [10, 200, 201, 600, 900])) {
    const chunk = Buffer.from(piece);
    scanner.push(chunk);
    chunk.fill(0x78);
  }
  assert.equal(scanner.completeUpTo, STREAM.length);
  assert.deepEqual(
    kept.map((data) => Buffer.from(data, 'latin1').toString('utf8')),
    EXPECTED,
  );
});

test('completeUpTo ends just after the last blank line', () => {
  const scanner = new SseScanner(() => false);
  assert.equal(scanner.completeUpTo, 0);
  scanner.push(Buffer.from('data: a\n'));
  assert.equal(scanner.completeUpTo, 0);
  scanner.push(Buffer.from('\ndata: b'));
  assert.equal(scanner.completeUpTo, 9);
  scanner.push(Buffer.from('\n'));
  assert.equal(scanner.completeUpTo, 9);
  scanner.push(Buffer.from('\r'));
  assert.equal(scanner.completeUpTo, 9);
  scanner.push(Buffer.from('\n'));
  assert.equal(scanner.completeUpTo, 19);
  scanner.push(Buffer.from(': ping\n\n'));
  assert.equal(scanner.completeUpTo, 27);
  scanner.push(Buffer.from('data: c\r\n\r\ndata: d\n'));
  assert.equal(scanner.completeUpTo, 38);

  for (let point = 0; point <= STREAM.length; point++) {
    const { scanner: split } = scan([STREAM.subarray(0, point)]);
    const lastBlank = STREAM.subarray(0, point).lastIndexOf('\n\n');
    const lastCrBlank = STREAM.subarray(0, point).lastIndexOf('\r\n\r\n');
    const expected = Math.max(lastBlank === -1 ? 0 : lastBlank + 2, lastCrBlank === -1 ? 0 : lastCrBlank + 4);
    assert.equal(split.completeUpTo, expected, `prefix of ${point}`);
  }
});

test('an incomplete line is held until its end arrives', () => {
  const events: string[] = [];
  const scanner = new SseScanner((data) => {
    events.push(data.toString());
    return false;
  });
  scanner.push(Buffer.alloc(0));
  scanner.push(Buffer.from('data: {"a'));
  assert.equal(scanner.completeUpTo, 0);
  scanner.push(Buffer.from('":1}\n\n: x'));
  assert.deepEqual(events, ['{"a":1}']);
  assert.equal(scanner.completeUpTo, 15);
});

test('comments and event-only blocks yield no events', () => {
  const buf = Buffer.from(': keep-alive\n\n:\n\n: a\n: b\n\nevent: ping\n\nid: 3\n\nretry: 10\n\n\n\n');
  const { events, scanner } = scan([buf]);
  assert.deepEqual(events, []);
  assert.equal(scanner.completeUpTo, buf.length);
  assert.deepEqual(scanner.dropped, []);
});

test('event:, id: and retry: lines are ignored; only data is reported', () => {
  const { events } = scan([Buffer.from('event: delta\nid: 1\ndata: x\nretry: 5\n\nid: 2\ndata: y\nevent: end\n\n')]);
  assert.deepEqual(events, ['x', 'y']);
});

test('data without a space after the colon, and with an extra space kept', () => {
  const { events } = scan([Buffer.from('data:x\n\ndata:  two spaces\n\ndata:\n\ndata: \n\n')]);
  assert.deepEqual(events, ['x', ' two spaces', '', '']);
});

test('fields that only look like data are ignored', () => {
  const { events } = scan([Buffer.from('datum: x\n\nDATA: x\n\n data: x\n\nxdata: y\n\ndata: real\n\n')]);
  assert.deepEqual(events, ['real']);
});

test('multi-line data is joined with \\n', () => {
  const { events } = scan([Buffer.from('data: {"a":\ndata: 1}\n\ndata: one\r\ndata:two\r\ndata: three\r\n\r\n')]);
  assert.deepEqual(events, ['{"a":\n1}', 'one\ntwo\nthree']);
  assert.deepEqual(JSON.parse(events[0] as string), { a: 1 });
});

test('\\r\\n line endings, including a \\r and \\n split across chunks', () => {
  const text = `data: ${token(0)}\r\n\r\n: keep-alive\r\n\r\ndata: [DONE]\r\n\r\n`;
  const expected = [token(0), '[DONE]'];
  const buf = Buffer.from(text);
  assert.deepEqual(scan([buf]).events, expected);
  for (let point = 0; point <= buf.length; point++) {
    assert.deepEqual(scan(splitAt(buf, [point])).events, expected, `split at ${point}`);
  }
  // No \r is left in the data.
  for (const event of scan(bytes(buf)).events) assert.equal(event.includes('\r'), false);
});

test('an event without its blank line is not reported', () => {
  const { events, scanner } = scan([Buffer.from('data: a\n\ndata: b\n')]);
  assert.deepEqual(events, ['a']);
  assert.equal(scanner.completeUpTo, 9);
});

test('a handler returning true records the exact byte range of the event', () => {
  const usageOnly = (data: string) => data.includes('"choices":[]');
  const expectedRange = (() => {
    let at = 0;
    for (const event of EVENTS) {
      const length = Buffer.byteLength(event.text);
      if (event.data === USAGE_ONLY) return [at, at + length] as [number, number];
      at += length;
    }
    throw new Error('no usage event');
  })();
  const usageText = `data: ${USAGE_ONLY}\n\n`;
  const check = (scanner: SseScanner, label: string) => {
    assert.deepEqual(scanner.dropped, [expectedRange], label);
    const [start, end] = scanner.dropped[0] as [number, number];
    assert.equal(STREAM.subarray(start, end).toString(), usageText, label);
  };
  check(scan([STREAM], usageOnly).scanner, 'one push');
  check(scan(bytes(STREAM), usageOnly).scanner, 'bytes');
  for (let point = 0; point <= STREAM.length; point++) check(scan(splitAt(STREAM, [point]), usageOnly).scanner, `split at ${point}`);
});

test('dropped ranges include leading comments and field lines, and \\r\\n blank lines', () => {
  const events = ['data: keep\n\n', ': note\nevent: x\ndata: drop1\r\n\r\n', 'data: keep\n\n', 'data: drop2\ndata: more\n\n', ': ping\n\n'];
  const buf = Buffer.from(events.join(''));
  const random = prng(7);
  const chunkings: Iterable<Buffer>[] = [[buf], bytes(buf), randomChunks(buf, random, 9)];
  for (let point = 0; point <= buf.length; point++) chunkings.push(splitAt(buf, [point]));
  for (const chunks of chunkings) {
    const { events: seen, scanner } = scan(chunks, (data) => data.startsWith('drop'));
    assert.deepEqual(seen, ['keep', 'drop1', 'keep', 'drop2\nmore']);
    const texts = scanner.dropped.map(([start, end]) => buf.subarray(start, end).toString());
    assert.deepEqual(texts, [events[1], events[3]]);
  }
});
