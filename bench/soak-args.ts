import { join } from 'node:path';
import { ROOT } from '../support/processes.js';
import { type FlagSetter, numberIn, onOff, readFlags } from './read-flags.js';

export interface SoakArgs {
  seconds: number;
  concurrency: number;
  warmupFraction: number;
  settleSeconds: number;
  accessLog: 'on' | 'off';
  /** Force a full garbage collection in every proxy process (through the inspector) before each snapshot. */
  gc: boolean;
  seed: number;
  out: string;
}

const USAGE =
  'usage: node dist/bench/soak.js [--seconds 60] [--concurrency 32] [--warmup-fraction 0.2] [--settle-seconds 5] ' +
  '[--access-log on|off] [--gc on|off] [--seed 1] [--out bench/results/soak.md]';

const SETTERS: Record<string, FlagSetter<SoakArgs>> = {
  seconds: (args, value, name) => {
    args.seconds = numberIn(name, value, 2, 86_400);
  },
  concurrency: (args, value, name) => {
    args.concurrency = Math.round(numberIn(name, value, 1, 4_096));
  },
  'warmup-fraction': (args, value, name) => {
    args.warmupFraction = numberIn(name, value, 0.05, 0.9);
  },
  'settle-seconds': (args, value, name) => {
    args.settleSeconds = numberIn(name, value, 0, 600);
  },
  'access-log': (args, value, name) => {
    args.accessLog = onOff(name, value) ? 'on' : 'off';
  },
  gc: (args, value, name) => {
    args.gc = onOff(name, value);
  },
  seed: (args, value, name) => {
    args.seed = Math.round(numberIn(name, value, 0, 2 ** 31));
  },
  out: (args, value) => {
    args.out = value;
  },
};

/** `npm run soak -- …`: unknown flags are an error. */
export function parseSoakArgs(argv: readonly string[]): SoakArgs {
  const defaults: SoakArgs = {
    seconds: 60,
    concurrency: 32,
    warmupFraction: 0.2,
    settleSeconds: 5,
    accessLog: 'on',
    gc: true,
    seed: 1,
    out: join(ROOT, 'bench/results/soak.md'),
  };
  return readFlags(argv, USAGE, defaults, SETTERS);
}
