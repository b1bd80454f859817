/**
 * `npm run bench`: the proxy side by side with the backend direct, nginx, a simple undici proxy and fastify.
 * How it measures, and why, is in bench/README.md; every report also says it with the run's own parameters.
 */
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseBenchArgs } from './bench-args.js';
import { renderHeader } from './report/report-header.js';
import { renderTenantCost } from './report/tenant-cost.js';
import { writeResults } from './report/write-results.js';
import { planRuns } from './run-plan.js';
import { findNginx, NGINX_INSTALL_HINT } from './targets/nginx.js';
import { checkAltNode } from './targets/node-binary.js';
import { killAllNow, killChildrenAtExit } from './targets/start-child.js';
import { startBackend } from './targets/targets.js';
import { hasRedisServer, REDIS_INSTALL_HINT } from './targets/tenant-targets.js';
import type { RunContext } from './workloads/run-context.js';
import { runFleetWorkload } from './workloads/run-fleet.js';
import { runHttpWorkloads } from './workloads/run-http.js';
import { runOverheadWorkload } from './workloads/run-overhead.js';
import { runRoutingWorkload } from './workloads/run-routing-all.js';
import { runSaturationWorkload } from './workloads/run-saturation.js';
import { runStreamWorkload } from './workloads/run-stream.js';

/** Logs of the backend and proxies; removed at the end, also on failure. */
let workDir: string | null = null;

async function main(): Promise<void> {
  const args = parseBenchArgs(process.argv.slice(2));
  const startLoad = loadavg();
  const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim();
  const nginx = await findNginx();
  if (nginx === null) console.error(`bench: ${NGINX_INSTALL_HINT}`);
  if (!hasRedisServer()) console.error(`bench: ${REDIS_INSTALL_HINT}`);
  const altNode = args.node === null ? null : await checkAltNode(args.node);
  const plan = planRuns(args, nginx, altNode);
  const watchdog = setTimeout(() => {
    console.error(`bench: over its ${plan.budgetS} s time budget, killing everything`);
    killAllNow();
    process.exit(1);
  }, plan.budgetS * 1000);

  workDir = mkdtempSync(join(tmpdir(), 'inference-proxy-bench-'));
  console.error(
    `bench: ${plan.totalRuns} runs of ${args.duration} s (plus warm-up each); logs in ${workDir}; time budget ${plan.budgetS} s`,
  );
  const backend = await startBackend(join(workDir, 'backend.log'));
  let done = 0;
  const context: RunContext = {
    args,
    backend,
    workDir,
    nginx,
    altNode,
    progress: () => `${++done}/${plan.totalRuns}`,
    exitCodes: {},
  };
  const { exitCodes } = context;

  const http = plan.httpNames.length === 0 ? null : await runHttpWorkloads(plan.httpNames, context);
  const stream = plan.withStream ? await runStreamWorkload(context) : null;
  const overhead = plan.withOverhead ? await runOverheadWorkload(context) : null;
  const routing = plan.withRouting ? await runRoutingWorkload(context) : null;
  const fleet = plan.withFleet ? await runFleetWorkload(context) : null;
  const saturation = plan.withSaturation ? await runSaturationWorkload(context) : null;
  exitCodes[backend.name] = await backend.stop();
  clearTimeout(watchdog);

  const header = renderHeader({ args, command, startLoad, nginx, altNode, exitCodes, http, withStream: plan.withStream });
  const sections = [
    ...(http?.sections ?? []),
    ...(stream === null ? [] : [stream.section]),
    ...(overhead === null ? [] : [overhead.section]),
    ...(routing === null ? [] : [routing.section]),
    ...(fleet === null ? [] : [fleet.section]),
    ...(saturation === null ? [] : [saturation.section]),
  ];
  const tenantCost = renderTenantCost(http?.summaries.small, overhead?.sequential);
  if (tenantCost !== null) sections.push(tenantCost);
  const markdown = `${header}\n\n${sections.join('\n\n')}\n`;
  console.log(markdown);
  writeResults({ markdown, command, args, nginx, altNode, exitCodes, http, stream, overhead, routing, fleet, saturation });
}

killChildrenAtExit('bench', () => workDir);

main().catch((err: unknown) => {
  console.error('bench: failed:', err);
  killAllNow();
  process.exit(1);
});
