import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../../support/processes.js';
import type { BenchToClient, ClientToBench, OverheadJob, OverheadOutcome } from './overhead-messages.js';

const CLIENT_ENTRY = join(ROOT, 'dist/bench/workloads/overhead-client.js');
/** A job may take its own time plus this (connecting, draining, sorting) before the client is taken for hung. */
const JOB_SLACK_MS = 60_000;
const EXIT_TIMEOUT_MS = 5_000;

/** Called when the client's measured window starts and ends (the bench samples CPU over it). */
interface WindowHooks {
  start(): void;
  end(): void;
}

/** The overhead client process, on the bench's own Node whatever `--node` says: one job at a time. */
export interface OverheadClient {
  pid: number;
  run(job: OverheadJob, hooks: WindowHooks): Promise<OverheadOutcome>;
  close(): Promise<void>;
}

/** How long a job may take: its rounds bounded by maxMs, or its warm-up, window and drain. */
function jobBoundMs(job: OverheadJob): number {
  return (job.kind === 'sequential' ? job.maxMs : job.warmupMs + job.durationMs + job.drainMs) + JOB_SLACK_MS;
}

export function startOverheadClient(): OverheadClient {
  const child: ChildProcess = fork(CLIENT_ENTRY, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execPath: process.execPath });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const run = (job: OverheadJob, hooks: WindowHooks): Promise<OverheadOutcome> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`overhead client: no answer after ${jobBoundMs(job)} ms`)), jobBoundMs(job));
      const onExit = (): void => finish(new Error('overhead client exited during a job'));
      const onMessage = (message: ClientToBench): void => {
        if (message.type === 'overhead:window-start') hooks.start();
        else if (message.type === 'overhead:window-end') hooks.end();
        else if (message.type === 'overhead:result') finish(null, message.outcome);
        else if (message.type === 'overhead:failed') finish(new Error(`overhead client: ${message.message}`));
      };
      const finish = (err: Error | null, outcome?: OverheadOutcome): void => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        if (err === null && outcome !== undefined) resolve(outcome);
        else reject(err);
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.send({ type: 'overhead:run', job } satisfies BenchToClient);
    });
  const close = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.disconnect();
    const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };
  return { pid: child.pid!, run, close };
}
