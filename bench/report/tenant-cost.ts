import { KEY_TARGET, LIMITS_REDIS_TARGET, LIMITS_TARGET } from '../targets/tenant-targets.js';
import type { Summary } from './http-report.js';
import type { SequentialSummary } from './overhead-report.js';

/** The targets of the tenants issue: CPU per small request at most 1.2 x limits off, added p50 at most 0.1 ms more. */
const CPU_RATIO_TARGET = 1.2;
const ADDED_P50_TARGET_MS = 0.1;

const fmt = (value: number | null, digits = 0): string => (value === null ? '–' : value.toFixed(digits));

/**
 * The cost of the keys' limits, side by side: limits off (one key, no limits), on (the primary admits each
 * request) and on with Redis, from the small workload's CPU per request and, when the overhead workload
 * ran, its sequential added p50. Null when none of the tenant targets ran.
 */
export function renderTenantCost(
  small: readonly Summary[] | undefined,
  sequential: readonly SequentialSummary[] | undefined,
): string | null {
  const off = small?.find((s) => s.target === KEY_TARGET) ?? null;
  const offP50 = sequential?.find((s) => s.target === KEY_TARGET)?.addedP50 ?? null;
  const rows = [KEY_TARGET, LIMITS_TARGET, LIMITS_REDIS_TARGET].flatMap((target) => {
    const cpu = small?.find((s) => s.target === target)?.proxyCpuUsPerReq ?? null;
    const p50 = sequential?.find((s) => s.target === target)?.addedP50 ?? null;
    if (cpu === null && p50 === null) return [];
    const ratio = cpu !== null && off?.proxyCpuUsPerReq ? cpu / off.proxyCpuUsPerReq : null;
    const more = p50 !== null && offP50 !== null ? p50 - offP50 : null;
    const verdict =
      target === KEY_TARGET
        ? 'reference'
        : [
            ratio === null ? null : `CPU ${ratio <= CPU_RATIO_TARGET ? 'met' : 'MISSED'}`,
            more === null ? null : `p50 ${more <= ADDED_P50_TARGET_MS ? 'met' : 'MISSED'}`,
          ]
            .filter(Boolean)
            .join(', ');
    return [
      `| ${target} | ${fmt(cpu)} | ${ratio === null ? '–' : `${ratio.toFixed(2)}×`} | ${fmt(p50, 3)} | ${more === null ? '–' : more.toFixed(3)} | ${verdict} |`,
    ];
  });
  if (rows.length === 0) return null;
  return [
    "## tenants: the cost of the keys' limits",
    '',
    `Targets: CPU per small request with limits on at most ${CPU_RATIO_TARGET}× limits off (${KEY_TARGET}), with or without Redis; added p50 at most ${ADDED_P50_TARGET_MS} ms over limits off. CPU µs/req: the small workload's median; added p50: the overhead workload's sequential median (– when it did not run).`,
    '',
    '| target | proxy CPU µs/req | vs limits off | added p50 ms | p50 over limits off ms | targets |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}
