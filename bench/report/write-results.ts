import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../../support/processes.js';
import type { BenchArgs } from '../bench-args.js';
import { cpuModel } from '../measurement/machine.js';
import type { Nginx } from '../targets/nginx.js';
import type { AltNode } from '../targets/node-binary.js';
import type { FleetResults } from '../workloads/run-fleet.js';
import type { HttpResults } from '../workloads/run-http.js';
import type { OverheadResults } from '../workloads/run-overhead.js';
import type { RoutingResults } from '../workloads/run-routing-all.js';
import type { SaturationResults } from '../workloads/run-saturation.js';
import type { StreamResults } from '../workloads/run-stream.js';
import { isHttpWorkload, STREAM, STREAM_LIFETIME_MS } from '../workloads/workloads.js';
import { pkgVersion } from './pkg-version.js';

const RESULTS_DIR = join(ROOT, 'bench/results');

export interface Results {
  markdown: string;
  command: string;
  args: BenchArgs;
  nginx: Nginx | null;
  altNode: AltNode | null;
  exitCodes: Record<string, number | null>;
  http: HttpResults | null;
  stream: StreamResults | null;
  overhead: OverheadResults | null;
  routing: RoutingResults | null;
  fleet: FleetResults | null;
  saturation: SaturationResults | null;
}

/**
 * bench/results/latest.md and latest.json, and the same under a name per workload set and target list
 * (compare-<tag>), so that a small/chat run and a stream run do not overwrite each other.
 */
export function writeResults(results: Results): void {
  const { args } = results;
  const stream = results.stream === null ? [] : [`stream-${args.streams.join('-')}`];
  const overhead = results.overhead === null ? [] : ['overhead'];
  const routing = results.routing === null ? [] : [args.routingSweep ? 'routing-sweep' : 'routing'];
  const fleet = results.fleet === null ? [] : [`fleet-${args.backends.join('-')}`];
  const saturation = results.saturation === null ? [] : ['saturation'];
  const node = results.altNode === null ? [] : [results.altNode.tag];
  const tag = [
    ...args.workloads.filter(isHttpWorkload),
    ...stream,
    ...overhead,
    ...routing,
    ...fleet,
    ...saturation,
    ...node,
    ...(args.targets ?? []),
  ].join('-');
  const json = `${JSON.stringify(resultsJson(results), null, 2)}\n`;
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, 'latest.md'), results.markdown);
  writeFileSync(join(RESULTS_DIR, `compare-${tag}.md`), results.markdown);
  writeFileSync(join(RESULTS_DIR, 'latest.json'), json);
  writeFileSync(join(RESULTS_DIR, `compare-${tag}.json`), json);
  console.error(`bench: wrote ${join(RESULTS_DIR, 'latest.md')} and latest.json (also as compare-${tag}.md/.json)`);
}

function resultsJson(results: Results): Record<string, unknown> {
  const { http, stream, overhead } = results;
  return {
    date: new Date().toISOString(),
    node: process.version,
    altNode: results.altNode,
    cpu: cpuModel(),
    cores: cpus().length,
    command: results.command,
    args: results.args,
    versions: {
      undici: pkgVersion('undici'),
      fastify: pkgVersion('fastify'),
      fastifyHttpProxy: pkgVersion('@fastify/http-proxy'),
      nginx: results.nginx?.version ?? null,
      portkey: pkgVersion('@portkey-ai/gateway'),
      honoNodeServer: pkgVersion('@hono/node-server'),
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
    overhead:
      overhead === null
        ? null
        : {
            targets: overhead.targets,
            sequential: overhead.sequential,
            rates: overhead.rates,
            held: overhead.held,
            sequentialRuns: overhead.sequentialRuns,
            openLoopRuns: overhead.openLoopRuns,
          },
    routing: results.routing?.rows ?? null,
    prefixKeyCost: results.routing?.keyCost ?? null,
    fleet: results.fleet === null ? null : { runs: results.fleet.runs, small: results.fleet.small },
    saturation: results.saturation === null ? null : { runs: results.saturation.runs, readCost: results.saturation.readCost },
  };
}
