import type { BenchArgs } from '../bench-args.js';
import type { ScrapeReport } from '../measurement/measure-scrapes.js';
import { median } from '../measurement/stats.js';
import { NO_LOG_TARGET, PROXY_TARGET } from '../targets/target-names.js';
import { type HttpWorkloadName, WORKLOADS } from '../workloads/workloads.js';
import { accessLogCost, findings, type RunResult, renderTable, type Summary } from './http-report.js';
import { renderScrapes } from './scrape-report.js';

/** The access log may cost at most this much more proxy CPU per request (small, proxy-1w vs proxy-1w-nolog). */
const ACCESS_LOG_BUDGET_PCT = 10;

/** One workload's part of the report: its table, what the figures call for, and the extra tables it carries. */
export function renderHttpSection(
  name: HttpWorkloadName,
  list: readonly Summary[],
  runs: readonly RunResult[],
  scrapes: ScrapeReport | null,
  args: BenchArgs,
): string {
  const notes = findings(name, list);
  const logBytes = accessLogPerRequest(runs.filter((r) => r.workload === name));
  const section = [
    `## ${name}: ${WORKLOADS[name].title}`,
    '',
    renderTable(list),
    '',
    ...(notes.length === 0 ? ['No saturation or failure flagged.'] : notes.map((n) => `- ${n}`)),
    ...(logBytes.length === 0 ? [] : [`- Access log written per request: ${logBytes.join(', ')}.`]),
  ];
  if (name === 'small' && list.some((s) => s.target === NO_LOG_TARGET)) {
    section.push(
      '',
      `### small: access log on vs off (${PROXY_TARGET} vs ${NO_LOG_TARGET})`,
      '',
      ...accessLogCost(
        PROXY_TARGET,
        NO_LOG_TARGET,
        runs.filter((r) => r.workload === 'small'),
        ACCESS_LOG_BUDGET_PCT,
      ),
    );
  }
  if (name === 'chat' && scrapes !== null) {
    section.push(
      '',
      renderScrapes(
        scrapes,
        args,
        list.find((s) => s.target === scrapes.target),
      ),
    );
  }
  return section.join('\n');
}

/** `<target> <median> B` for each target that keeps an access log, in the order of the runs. */
function accessLogPerRequest(runs: readonly RunResult[]): string[] {
  const logging = [...new Set(runs.filter((r) => r.accessLogBytesPerReq !== null).map((r) => r.target))];
  return logging.map((t) => {
    const values = runs.filter((r) => r.target === t).map((r) => r.accessLogBytesPerReq as number);
    return `${t} ${median(values).toFixed(0)} B`;
  });
}
