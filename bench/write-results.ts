import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../test/helpers/processes.js';
import type { BenchArgs } from './bench-args.js';
import { cpuModel } from './machine.js';
import type { Nginx } from './nginx.js';
import { pkgVersion } from './pkg-version.js';
import type { HttpResults } from './run-http.js';
import type { RoutingResults } from './run-routing-all.js';
import type { StreamResults } from './run-stream.js';
import { isHttpWorkload, STREAM, STREAM_LIFETIME_MS } from './workloads.js';

const RESULTS_DIR = join(ROOT, 'bench/results');

export interface Results {
  markdown: string;
  command: string;
  args: BenchArgs;
  nginx: Nginx | null;
  exitCodes: Record<string, number | null>;
  http: HttpResults | null;
  stream: StreamResults | null;
  routing: RoutingResults | null;
}

/**
 * bench/results/latest.md and latest.json, and the same under a name per workload set and target list
 * (compare-<tag>), so that a small/chat run and a stream run do not overwrite each other.
 */
export function writeResults(results: Results): void {
  const { args } = results;
  const stream = results.stream === null ? [] : [`stream-${args.streams.join('-')}`];
  const routing = results.routing === null ? [] : [args.routingSweep ? 'routing-sweep' : 'routing'];
  const tag = [...args.workloads.filter(isHttpWorkload), ...stream, ...routing, ...(args.targets ?? [])].join('-');
  const json = `${JSON.stringify(resultsJson(results), null, 2)}\n`;
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, 'latest.md'), results.markdown);
  writeFileSync(join(RESULTS_DIR, `compare-${tag}.md`), results.markdown);
  writeFileSync(join(RESULTS_DIR, 'latest.json'), json);
  writeFileSync(join(RESULTS_DIR, `compare-${tag}.json`), json);
  console.error(`bench: wrote ${join(RESULTS_DIR, 'latest.md')} and latest.json (also as compare-${tag}.md/.json)`);
}

function resultsJson(results: Results): Record<string, unknown> {
  const { http, stream } = results;
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpuModel(),
    cores: cpus().length,
    command: results.command,
    args: results.args,
    versions: {
      undici: pkgVersion('undici'),
      fastify: pkgVersion('fastify'),
      fastifyHttpProxy: pkgVersion('@fastify/http-proxy'),
      nginx: results.nginx?.version ?? null,
    },
    exitCodes: results.exitCodes,
    targets: http?.targets ?? [],
    summaries: http?.summaries ?? {},
    runs: http?.runs ?? [],
    metricsScrapes: http?.scrapes ?? null,
    stream:
      stream === null
        ? null
        : { workload: STREAM, lifetimeMs: STREAM_LIFETIME_MS, targets: stream.targets, summaries: stream.summaries, runs: stream.runs },
    routing: results.routing?.rows ?? null,
    prefixKeyCost: results.routing?.keyCost ?? null,
  };
}
