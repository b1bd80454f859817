import { WORKLOAD_NAMES, type WorkloadName } from './workloads.js';

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
}

const USAGE = `usage: npm run bench -- [--duration 5] [--reps 3] [--connections 64] [--warmup 1] [--workloads ${WORKLOAD_NAMES.join(',')}] [--streams 256 | 64,256,1024] [--targets direct,proxy-1w,...]`;

/** A tiny argv parser: `--name value` or `--name=value`; unknown flags are an error. */
export function parseArgs(argv: readonly string[]): BenchArgs {
  const args: BenchArgs = {
    duration: 5,
    reps: 3,
    connections: 64,
    warmup: 1,
    workloads: [...WORKLOAD_NAMES],
    streams: [256],
    targets: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '--help' || token === '-h') {
      console.log(USAGE);
      process.exit(0);
    }
    if (!token.startsWith('--')) throw new Error(`unexpected argument '${token}'\n${USAGE}`);
    const eq = token.indexOf('=');
    const name = eq === -1 ? token.slice(2) : token.slice(2, eq);
    const value = eq === -1 ? argv[++i] : token.slice(eq + 1);
    if (value === undefined) throw new Error(`--${name} needs a value\n${USAGE}`);
    switch (name) {
      case 'duration':
        args.duration = positiveInt(name, value);
        break;
      case 'reps':
        args.reps = positiveInt(name, value);
        break;
      case 'connections':
        args.connections = positiveInt(name, value);
        break;
      case 'warmup':
        args.warmup = positiveInt(name, value);
        break;
      case 'workloads':
        args.workloads = value.split(',').map((w) => {
          const trimmed = w.trim();
          if (!(WORKLOAD_NAMES as readonly string[]).includes(trimmed)) {
            throw new Error(`--workloads: unknown workload '${trimmed}' (known: ${WORKLOAD_NAMES.join(', ')})`);
          }
          return trimmed as WorkloadName;
        });
        break;
      case 'targets':
        args.targets = value
          .split(',')
          .map((t) => t.trim())
          .filter((t) => t !== '');
        break;
      case 'streams':
        args.streams = value.split(',').map((n) => positiveInt(name, n.trim()));
        break;
      default:
        throw new Error(`unknown flag --${name}\n${USAGE}`);
    }
  }
  return args;
}

function positiveInt(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got '${raw}'`);
  return n;
}
