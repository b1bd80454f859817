import { type FlagSetter, numberIn, onOff, positiveInt, readFlags } from './read-flags.js';
import { DEFAULT_FLEET_SIZES, MAX_FLEET_SIZE } from './workloads/fleet-workload.js';
import { DEFAULT_RATES, DEFAULT_ROUNDS, DEFAULT_SEARCH_PROBES } from './workloads/overhead-workload.js';
import { DEFAULT_WORKLOADS, WORKLOAD_NAMES, type WorkloadName } from './workloads/workloads.js';

export interface BenchArgs {
  /** Measured seconds per run. */
  duration: number;
  reps: number;
  connections: number;
  /** Unmeasured seconds before every measured run. */
  warmup: number;
  workloads: WorkloadName[];
  /** Concurrent streams of the `stream` workload; one table per value. */
  streams: number[];
  /** Only these targets (by name, e.g. proxy-1w,proxy-1w-nolog); null = all. */
  targets: string[] | null;
  /** routing: also the variants the affinity defaults were chosen from. */
  routingSweep: boolean;
  /** saturation: also two instances at other --load-interval values (what its default was chosen from). */
  saturationSweep: boolean;
  /** saturation: only the variants whose label contains one of these (all when empty). */
  saturationOnly: string[];
  /** Another Node binary the Node targets also run on (`<name>-node24`); null = the bench's own only. */
  node: string | null;
  /** overhead: the open-loop rates, requests per second. */
  rates: number[];
  /** overhead: measured sequential rounds per run. */
  rounds: number;
  /** overhead: open-loop probes per target in the search for the highest rate held (0: none). */
  searchProbes: number;
  /** fleet: the fleet sizes, in backends. */
  backends: number[];
}

const USAGE = `usage: npm run bench -- [--duration 5] [--reps 3] [--connections 64] [--warmup 1] [--workloads ${WORKLOAD_NAMES.join(',')}] [--streams 256 | 64,256,1024] [--targets direct,proxy-1w,...] [--routing-sweep on] [--saturation-sweep on] [--saturation-only 'two instances,10:1'] [--node PATH] [--rates 500,2000,5000] [--rounds ${DEFAULT_ROUNDS}] [--search-probes ${DEFAULT_SEARCH_PROBES}] [--backends ${DEFAULT_FLEET_SIZES.join(',')}]`;

function workloadName(raw: string): WorkloadName {
  const trimmed = raw.trim();
  if (!(WORKLOAD_NAMES as readonly string[]).includes(trimmed)) {
    throw new Error(`--workloads: unknown workload '${trimmed}' (known: ${WORKLOAD_NAMES.join(', ')})`);
  }
  return trimmed as WorkloadName;
}

const count =
  (key: 'duration' | 'reps' | 'connections' | 'warmup'): FlagSetter<BenchArgs> =>
  (args, value, name) => {
    args[key] = positiveInt(name, value);
  };

const SETTERS: Record<string, FlagSetter<BenchArgs>> = {
  duration: count('duration'),
  reps: count('reps'),
  connections: count('connections'),
  warmup: count('warmup'),
  workloads: (args, value) => {
    args.workloads = value.split(',').map(workloadName);
  },
  targets: (args, value) => {
    args.targets = value
      .split(',')
      .map((t) => t.trim())
      .filter((t) => t !== '');
  },
  'routing-sweep': (args, value, name) => {
    args.routingSweep = onOff(name, value);
  },
  'saturation-sweep': (args, value, name) => {
    args.saturationSweep = onOff(name, value);
  },
  'saturation-only': (args, value) => {
    args.saturationOnly = value
      .split(',')
      .map((label) => label.trim())
      .filter((label) => label !== '');
  },
  streams: (args, value, name) => {
    args.streams = value.split(',').map((n) => positiveInt(name, n.trim()));
  },
  node: (args, value) => {
    args.node = value;
  },
  rates: (args, value, name) => {
    args.rates = value.split(',').map((n) => positiveInt(name, n.trim()));
  },
  rounds: (args, value, name) => {
    args.rounds = positiveInt(name, value);
  },
  backends: (args, value, name) => {
    args.backends = value.split(',').map((n) => {
      const size = positiveInt(name, n.trim());
      if (size > MAX_FLEET_SIZE) throw new Error(`--${name}: at most ${MAX_FLEET_SIZE} backends, got ${size}`);
      return size;
    });
  },
  'search-probes': (args, value, name) => {
    args.searchProbes = numberIn(name, value, 0, 20);
    if (!Number.isInteger(args.searchProbes)) throw new Error(`--${name} must be a whole number from 0 to 20, got '${value}'`);
  },
};

/** `npm run bench -- …`: unknown flags are an error. */
export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  const defaults: BenchArgs = {
    duration: 5,
    reps: 3,
    connections: 64,
    warmup: 1,
    workloads: [...DEFAULT_WORKLOADS],
    streams: [256],
    targets: null,
    routingSweep: false,
    saturationSweep: false,
    saturationOnly: [],
    node: null,
    rates: [...DEFAULT_RATES],
    rounds: DEFAULT_ROUNDS,
    searchProbes: DEFAULT_SEARCH_PROBES,
    backends: [...DEFAULT_FLEET_SIZES],
  };
  return readFlags(argv, USAGE, defaults, SETTERS);
}
