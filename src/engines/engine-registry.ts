import { readdir } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type PromSample, type PromSamples, parsePromFamilies } from '../metrics/prom-text.js';

/** What an engine's own gauges say about its load, read from its GET /metrics. */
export interface EngineLoad {
  /** Which parser read it: `vllm`, `sglang`, `llamacpp`, `tgi`. */
  readonly engine: string;
  /** Requests queued in the engine, not yet scheduled. */
  readonly waiting: number;
  /** Requests it is running (prefill or decode). */
  readonly running: number;
  /** Share of its KV cache in use, 0 to 1; null when the engine does not say. */
  readonly kvUsage: number | null;
}

/** One engine's metric names and how to read them: one file per engine under ./parsers registers one. */
interface EngineParser {
  readonly engine: string;
  /** What every one of its metric names starts with: a text without it is not this engine's. */
  readonly prefix: string;
  /** The metric families it reads; only these are parsed out of a scrape. */
  readonly names: readonly string[];
  /** Families read only when one of `names` is missing (an older engine's names). */
  readonly fallback?: readonly string[];
  /** Its reading, or null when none of its gauges is in the samples (another engine's /metrics). */
  read(samples: PromSamples): EngineLoad | null;
}

const PARSERS: EngineParser[] = [];

/** Called by each parser module when it is loaded. */
export function registerEngineParser(parser: EngineParser): void {
  if (PARSERS.some((known) => known.engine === parser.engine)) return;
  PARSERS.push(parser);
}

const PARSERS_DIR = new URL('./parsers/', import.meta.url);

let loading: Promise<void> | null = null;

/**
 * Loads every parser module of ./parsers (each registers itself): no other file lists the engines. Once
 * per process; later calls wait for the first.
 */
export function loadEngineParsers(): Promise<void> {
  loading ??= (async () => {
    const files = (await readdir(fileURLToPath(PARSERS_DIR))).filter((file) => file.endsWith('.js')).sort();
    for (const file of files) await import(pathToFileURL(fileURLToPath(new URL(file, PARSERS_DIR))).href);
  })();
  return loading;
}

/** The engines known now, by name. */
export function engineNames(): string[] {
  return PARSERS.map((parser) => parser.engine);
}

/**
 * The load an engine's /metrics text tells, by the first parser that recognises it; null when none does.
 * A parser looks only at a text that holds its prefix, and only for its own few names. `likely`: the engine
 * this backend was last time, tried first (the others' prefixes are then not searched for).
 */
export function readEngineLoad(text: string, likely: string | null = null): EngineLoad | null {
  const first = likely === null ? undefined : PARSERS.find((parser) => parser.engine === likely);
  for (const parser of first === undefined ? PARSERS : [first, ...PARSERS]) {
    if (!text.includes(parser.prefix)) continue;
    const samples = parsePromFamilies(text, parser.names);
    if (parser.fallback !== undefined && parser.names.some((name) => !samples.has(name)))
      for (const [name, list] of parsePromFamilies(text, parser.fallback)) (samples as Map<string, PromSample[]>).set(name, [...list]);
    const load = parser.read(samples);
    if (load !== null) return load;
  }
  return null;
}

/**
 * Labels that say a series is one of several reporting the same thing (a tensor- or pipeline-parallel
 * rank): only rank 0's series count, or every rank would add the same queue again.
 */
const RANK_LABELS = ['tp_rank', 'pp_rank'];

function counted(labels: Readonly<Record<string, string>>): boolean {
  for (const label of RANK_LABELS) {
    const rank = labels[label];
    if (rank !== undefined && rank !== '0') return false;
  }
  return true;
}

/** The sum of `name` over its series (data-parallel engines, several models), or null when absent. */
function sumOf(samples: PromSamples, name: string): number | null {
  const list = samples.get(name);
  if (list === undefined) return null;
  let total = 0;
  let seen = false;
  for (const sample of list) {
    if (!counted(sample.labels) || !Number.isFinite(sample.value)) continue;
    total += sample.value;
    seen = true;
  }
  return seen ? Math.max(0, total) : null;
}

/** The mean of `name` over its series (one KV cache per data-parallel engine), clamped to 0..1; null when absent. */
function meanShareOf(samples: PromSamples, name: string): number | null {
  const list = samples.get(name);
  if (list === undefined) return null;
  let total = 0;
  let count = 0;
  for (const sample of list) {
    if (!counted(sample.labels) || !Number.isFinite(sample.value)) continue;
    total += sample.value;
    count++;
  }
  return count === 0 ? null : Math.min(1, Math.max(0, total / count));
}

/** A reading from the usual three gauges; null when neither count is there. */
export function loadFrom(
  engine: string,
  samples: PromSamples,
  names: { waiting: string; running: string; kv: readonly string[] },
): EngineLoad | null {
  const waiting = sumOf(samples, names.waiting);
  const running = sumOf(samples, names.running);
  if (waiting === null && running === null) return null;
  let kvUsage: number | null = null;
  for (const name of names.kv) {
    kvUsage = meanShareOf(samples, name);
    if (kvUsage !== null) break;
  }
  return { engine, waiting: waiting ?? 0, running: running ?? 0, kvUsage };
}
