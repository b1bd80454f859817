/**
 * The load generator of the `overhead` workload, in a process of its own (forked by the bench, always on the
 * bench's Node): its timing must not share an event loop with the bench's sampling, and its CPU is measured
 * apart. It runs one job at a time, sent over IPC (bench/workloads/overhead-messages.ts), and answers with the outcome.
 */
import { performance } from 'node:perf_hooks';
import { summarizeRounds } from '../measurement/overhead-stats.js';
import { LoadConnection } from './load-connection.js';
import type { BenchToClient, ClientToBench, OverheadJob, OverheadOutcome, SequentialJob, SequentialOutcome } from './overhead-messages.js';
import { runOpenLoop } from './overhead-open-loop.js';
import { ERROR_SAMPLES } from './overhead-workload.js';

function post(message: ClientToBench): void {
  process.send?.(message);
}

function isOk(status: number, error: Error | null): boolean {
  return error === null && status >= 200 && status < 300;
}

/** One request on `connection`, timed from send to the end of its response, ms. */
async function timed(connection: LoadConnection): Promise<{ ms: number; ok: boolean; error: string | null }> {
  const start = performance.now();
  const { status, error } = await connection.sendAndWait();
  const ms = performance.now() - start;
  return { ms, ok: isOk(status, error), error: error?.message ?? (isOk(status, null) ? null : `HTTP ${status}`) };
}

/**
 * Rounds of one direct and one proxied request, each on its own keep-alive connection, the first of the pair
 * alternating from round to round so neither arm always runs on a cache the other warmed.
 */
async function runSequential(job: SequentialJob): Promise<SequentialOutcome> {
  const direct = new LoadConnection(job.direct);
  const proxied = new LoadConnection(job.proxied);
  const directMs: number[] = [];
  const proxiedMs: number[] = [];
  const errorSamples: string[] = [];
  let failed = 0;
  let cut = false;
  const deadline = performance.now() + job.maxMs;
  try {
    for (let round = 0; round < job.warmupRounds + job.rounds; round++) {
      if (round === job.warmupRounds) post({ type: 'overhead:window-start' });
      const directFirst = round % 2 === 0;
      const first = await timed(directFirst ? direct : proxied);
      const second = await timed(directFirst ? proxied : direct);
      const [d, p] = directFirst ? [first, second] : [second, first];
      if (round >= job.warmupRounds) {
        if (d.ok && p.ok) {
          directMs.push(d.ms);
          proxiedMs.push(p.ms);
        } else {
          failed++;
          const error = d.error ?? p.error;
          if (error !== null && errorSamples.length < ERROR_SAMPLES) errorSamples.push(`${d.ok ? 'proxied' : 'direct'}: ${error}`);
        }
      }
      if (performance.now() > deadline) {
        cut = round < job.warmupRounds + job.rounds - 1;
        break;
      }
    }
    post({ type: 'overhead:window-end' });
  } finally {
    await Promise.all([direct.destroy(), proxied.destroy()]);
  }
  return { kind: 'sequential', rounds: directMs.length, cut, ...summarizeRounds(directMs, proxiedMs), failed, errorSamples };
}

function runJob(job: OverheadJob): Promise<OverheadOutcome> {
  if (job.kind === 'sequential') return runSequential(job);
  return runOpenLoop(job, {
    windowStart: () => post({ type: 'overhead:window-start' }),
    windowEnd: () => post({ type: 'overhead:window-end' }),
  });
}

process.on('message', (message: BenchToClient) => {
  if (message?.type !== 'overhead:run') return;
  runJob(message.job).then(
    (outcome) => post({ type: 'overhead:result', outcome }),
    (err: unknown) => post({ type: 'overhead:failed', message: err instanceof Error ? err.message : String(err) }),
  );
});
// The bench went away (or is done): nothing else to do.
process.on('disconnect', () => process.exit(0));
