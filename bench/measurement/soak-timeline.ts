import { setTimeout as sleep } from 'node:timers/promises';
import { childPids } from './proc-cpu.js';
import { processSample } from './soak-snapshot.js';

/** Samples per phase: enough to tell steady growth from a plateau. */
const STEPS = 8;

export interface TimelinePoint {
  atSeconds: number;
  primaryKb: number;
  workersKb: number[];
}

/** RSS of the primary and the workers at STEPS evenly spaced times of a phase that lasts `seconds`. */
export async function sampleTimeline(primaryPid: number, seconds: number): Promise<TimelinePoint[]> {
  const points: TimelinePoint[] = [];
  const started = performance.now();
  for (let step = 0; step < STEPS; step++) {
    const due = started + (seconds * 1000 * step) / STEPS;
    await sleep(Math.max(0, due - performance.now()));
    try {
      const workers = childPids(primaryPid).map(processSample);
      points.push({
        atSeconds: (performance.now() - started) / 1000,
        primaryKb: processSample(primaryPid).rssKb,
        workersKb: workers.map((w) => w.rssKb),
      });
    } catch {
      // A process went away between the listing and the read; the final snapshot reports it.
    }
  }
  return points;
}
