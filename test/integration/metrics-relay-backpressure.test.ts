import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import type { PrimaryToWorker, WorkerToPrimary } from '../../src/shared/ipc.js';
import { channelSender } from '../../src/worker/channel-sender.js';
import { MetricsRelay } from '../../src/worker/metrics-relay.js';

/** A stand-in primary in a real child process: it answers every scrape request over its IPC channel. */
const PRIMARY = `
process.on('message', (message) => {
  if (message?.type === 'iproxy:scrape-req')
    process.send({ type: 'iproxy:scrape-res', id: message.id, status: 200, contentType: 'text/plain', body: 'merged\\n' });
});`;
/** Far more than the channel writes at once (its high-water mark is 128 KiB): later sends queue behind it. */
const BIG_MESSAGE_BYTES = 8 * 1024 * 1024;

test('a send that returns false (the IPC queue is full) is backpressure: the scrape waits for its answer instead of a 503', async (t) => {
  const child = spawn(process.execPath, ['-e', PRIMARY], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  t.after(() => child.kill('SIGKILL'));
  const send = channelSender<WorkerToPrimary>(child);
  const relay = new MetricsRelay(send);
  child.on('message', (message: PrimaryToWorker) => {
    if (message.type === 'iproxy:scrape-res') relay.onAnswer(message);
  });
  // The channel is busy with a large message, as a worker's channel was with a whole registry before issue 18.
  child.send({ type: 'iproxy:ballast', bytes: 'x'.repeat(BIG_MESSAGE_BYTES) });
  assert.equal(child.send({ type: 'iproxy:ballast', bytes: '' }), false, 'the channel reports backpressure');
  // Bounded by the relay itself: without an answer it gives up after 8 s with a 503.
  const answer = await relay.request();
  assert.deepEqual(answer, { status: 200, contentType: 'text/plain', body: 'merged\n' });
});

test('a closed channel fails the scrape at once with the 503 JSON error', async () => {
  const relay = new MetricsRelay(channelSender<WorkerToPrimary>({ connected: false }));
  const answer = await relay.request();
  assert.equal(answer.status, 503);
  assert.deepEqual(JSON.parse(answer.body), {
    error: { message: 'the primary did not answer the metrics request', type: 'unavailable', code: 'metrics_unavailable' },
  });
});
