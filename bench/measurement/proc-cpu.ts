import { readdirSync, readFileSync } from 'node:fs';
import { run } from '../../support/processes.js';

const GETCONF_TIMEOUT_MS = 5_000;

/** Clock ticks per second of utime/stime in /proc/<pid>/stat (getconf CLK_TCK, 100 on nearly every Linux). */
export const CLK_TCK = await readClockTicks();

async function readClockTicks(): Promise<number> {
  try {
    const ticks = Number((await run('getconf', ['CLK_TCK'], {}, GETCONF_TIMEOUT_MS)).stdout.trim());
    return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}

interface StatLine {
  ppid: number;
  /** utime + stime, clock ticks. */
  ticks: number;
}

/** Fields after the `(comm)` field, which may itself hold spaces or parentheses. */
function readStat(pid: number): StatLine | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null; // exited meanwhile
  }
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
  return { ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) };
}

function readRssKb(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? 0 : Number(match[1]);
  } catch {
    return 0;
  }
}

/** Summed VmRSS of known processes (from an earlier sampleTree), without rescanning /proc. */
export function rssKbOf(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) total += readRssKb(pid);
  return total;
}

export interface TreeSample {
  /** The root and all its descendants alive at sampling time. */
  pids: number[];
  /** utime + stime of all of them, clock ticks. */
  ticks: number;
  rssKb: number;
}

/** Every process alive now, by pid. */
function scanProc(): Map<number, StatLine> {
  const stats = new Map<number, StatLine>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const stat = readStat(pid);
    if (stat !== null) stats.set(pid, stat);
  }
  return stats;
}

/** The direct children of `parent` (a proxy primary's workers), lowest pid first. */
export function childPids(parent: number): number[] {
  const pids: number[] = [];
  for (const [pid, stat] of scanProc()) if (stat.ppid === parent) pids.push(pid);
  return pids.sort((a, b) => a - b);
}

/** CPU and RSS of a process and all its descendants (one scan of /proc for the parent links). */
export function sampleTree(rootPid: number): TreeSample {
  const stats = scanProc();
  const pids: number[] = [];
  if (stats.has(rootPid)) {
    const queue = [rootPid];
    while (queue.length > 0) {
      const pid = queue.shift()!;
      pids.push(pid);
      for (const [child, stat] of stats) if (stat.ppid === pid) queue.push(child);
    }
  }
  let ticks = 0;
  let rssKb = 0;
  for (const pid of pids) {
    ticks += stats.get(pid)!.ticks;
    rssKb += readRssKb(pid);
  }
  return { pids, ticks, rssKb };
}

/** CPU seconds between two samples of the same tree; null if a process of the tree came or went (a worker restart would hide CPU). */
export function cpuSecondsBetween(before: TreeSample, after: TreeSample): number | null {
  const same = before.pids.length === after.pids.length && before.pids.every((pid) => after.pids.includes(pid));
  return same ? (after.ticks - before.ticks) / CLK_TCK : null;
}

export interface SystemSample {
  busy: number;
  total: number;
  /** irq + softirq ticks: network processing (loopback TCP included) that no process is charged for. */
  interrupts: number;
}

/** Whole-machine CPU ticks from the `cpu` line of /proc/stat: busy is everything but idle and iowait. */
export function sampleSystem(): SystemSample {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const values = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = values.reduce((sum, v) => sum + v, 0);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  return { busy: total - idle, total, interrupts: (values[5] ?? 0) + (values[6] ?? 0) };
}

/**
 * CPU time of one process in ns, summed over its threads (/proc/<pid>/task/<tid>/schedstat, field 1): the
 * clock-tick figures of /proc/<pid>/stat are 10 ms steps, too coarse for a scrape that takes a few ms.
 * A thread that exits between two readings takes its time with it (Node's threads live as long as the process).
 */
export function cpuNsOf(pid: number): number {
  let total = 0;
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0;
  }
  for (const tid of tids) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ', 1)[0]);
    } catch {
      // the thread exited meanwhile
    }
  }
  return total;
}
