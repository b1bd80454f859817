import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { LineBatcher } from '../../src/shared/logger.js';
import { eventually } from '../../support/wait.js';

function recorder() {
  const writes: string[] = [];
  let syncFlushes = 0;
  return {
    writes,
    syncFlushes: () => syncFlushes,
    sink: {
      write: (batch: string) => writes.push(batch),
      flushSync: () => {
        syncFlushes++;
      },
    },
  };
}

const line = (i: number, pad: number) => `{"n":${i},"pad":"${'x'.repeat(pad)}"}\n`;

test('lines are joined into batches of at least 3 KiB and at most 4 KiB, in order, each line whole', () => {
  const { writes, sink } = recorder();
  const batcher = new LineBatcher(sink, 60_000);
  const sent: string[] = [];
  for (let i = 0; i < 200; i++) {
    const text = line(i, 300 + (i % 7) * 40);
    sent.push(text);
    batcher.write(text);
  }
  batcher.flush();
  assert.equal(writes.join(''), sent.join(''), 'every line, in order, nothing added');
  for (const [i, batch] of writes.entries()) {
    assert.ok(Buffer.byteLength(batch) <= 4096, `batch ${i} fits in PIPE_BUF`);
    assert.ok(batch.endsWith('\n'), `batch ${i} ends on a line end`);
    if (i < writes.length - 1) assert.ok(Buffer.byteLength(batch) >= 3072 - 600, `batch ${i} is full enough`);
  }
  assert.ok(writes.length < 200 / 5, `${writes.length} writes for 200 lines`);
});

test('bytes, not characters, are counted: multi-byte lines never make a batch over 4 KiB', () => {
  const { writes, sink } = recorder();
  const batcher = new LineBatcher(sink, 60_000);
  for (let i = 0; i < 50; i++) batcher.write(`{"msg":"${'é€'.repeat(150)}"}\n`);
  batcher.flush();
  for (const batch of writes) assert.ok(Buffer.byteLength(batch) <= 4096, `${Buffer.byteLength(batch)} bytes`);
  assert.equal(writes.join('').split('\n').length - 1, 50);
});

test('a line longer than 4 KiB goes out alone, after the lines before it', () => {
  const { writes, sink } = recorder();
  const batcher = new LineBatcher(sink, 60_000);
  batcher.write('a\n');
  const long = `${'y'.repeat(10_000)}\n`;
  batcher.write(long);
  batcher.write('b\n');
  batcher.flush();
  assert.deepEqual(writes, ['a\n', long, 'b\n']);
});

test('a small batch is written within the flush interval, and flushSync writes what is pending at once', async () => {
  const { writes, sink, syncFlushes } = recorder();
  const batcher = new LineBatcher(sink, 20);
  batcher.write('one\n');
  assert.deepEqual(writes, [], 'not yet: the batch is small');
  const deadline = Date.now() + 2_000;
  while (writes.length === 0 && Date.now() < deadline) await delay(5);
  assert.deepEqual(writes, ['one\n']);
  batcher.write('two\n');
  batcher.flushSync();
  assert.deepEqual(writes, ['one\n', 'two\n']);
  assert.equal(syncFlushes(), 1);
});

test('with nothing to write no timer runs: a line arms the flush timer, which fires once for it', async () => {
  const { writes, sink } = recorder();
  const batcher = new LineBatcher(sink, 10);
  const flush = mock.method(batcher, 'flush');
  await delay(100);
  assert.equal(flush.mock.callCount(), 0, 'no flush while idle');
  batcher.write(line(1, 10));
  await eventually(
    'the line written',
    () => writes.length,
    (n) => n === 1,
    { timeoutMs: 5_000 },
  );
  await delay(100);
  assert.equal(flush.mock.callCount(), 1, 'one flush for the line, none after it');
  batcher.write(line(2, 10));
  await eventually(
    'the next line written by the same timer, armed again',
    () => writes.length,
    (n) => n === 2,
    { timeoutMs: 5_000 },
  );
});
