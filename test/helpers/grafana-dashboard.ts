/** Reading deploy/grafana/inference-proxy.json: its panels, variables and every PromQL query in it. */
import { readRepoFile } from './deploy-fixture.js';
import { parseLabelValues } from './promql-names.js';

export const DASHBOARD = 'deploy/grafana/inference-proxy.json';

export interface Target {
  expr?: string;
  format?: string;
  legendFormat?: string;
  refId?: string;
}

export interface Panel {
  id?: number;
  type: string;
  title?: string;
  description?: string;
  datasource?: { type?: string; uid?: string };
  gridPos?: { h: number; w: number; x: number; y: number };
  targets?: Target[];
  panels?: Panel[];
}

export interface Variable {
  name: string;
  type: string;
  query?: string | { query?: string };
  definition?: string;
  multi?: boolean;
  includeAll?: boolean;
}

export interface Dashboard {
  schemaVersion: number;
  uid?: string;
  title?: string;
  __inputs?: Array<{ name: string; type: string; pluginId: string }>;
  __requires?: Array<{ type: string; id: string }>;
  templating: { list: Variable[] };
  panels: Panel[];
}

export function loadDashboard(): { text: string; dashboard: Dashboard } {
  const text = readRepoFile(DASHBOARD);
  return { text, dashboard: JSON.parse(text) as Dashboard };
}

/** Every panel, including those inside collapsed rows. */
export function allPanels(dashboard: Dashboard): Panel[] {
  return dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
}

/** The panels under the row titled `title`: those after it, up to the next row (or inside it when collapsed). */
export function panelsOfRow(dashboard: Dashboard, title: string): Panel[] {
  const at = dashboard.panels.findIndex((panel) => panel.type === 'row' && panel.title === title);
  if (at === -1) return [];
  const row = dashboard.panels[at] as Panel;
  if (row.panels && row.panels.length > 0) return row.panels;
  const next = dashboard.panels.findIndex((panel, i) => i > at && panel.type === 'row');
  return dashboard.panels.slice(at + 1, next === -1 ? undefined : next);
}

/**
 * A panel query as Grafana sends it to Prometheus: every `$url` and `$endpoint` at All (`.*`) and
 * `$__rate_interval` as `rateInterval`. `${1}` in a label_replace() replacement is not a variable and stays.
 */
export function asPromql(expr: string, rateInterval: string): string {
  return expr.replaceAll('$__rate_interval', rateInterval).replaceAll('$url', '.*').replaceAll('$endpoint', '.*');
}

export const queryOf = (variable: Variable): string =>
  typeof variable.query === 'string' ? variable.query : (variable.query?.query ?? variable.definition ?? '');

/** Every PromQL expression in the dashboard, with where it comes from. */
export function dashboardQueries(dashboard: Dashboard): Array<{ where: string; expr: string }> {
  const queries: Array<{ where: string; expr: string }> = [];
  for (const panel of allPanels(dashboard)) {
    for (const target of panel.targets ?? []) {
      if (target.expr) queries.push({ where: `panel "${panel.title}" ${target.refId ?? ''}`.trim(), expr: target.expr });
    }
  }
  for (const variable of dashboard.templating.list) {
    if (variable.type !== 'query') continue;
    const labelValues = parseLabelValues(queryOf(variable));
    queries.push({ where: `variable $${variable.name}`, expr: labelValues ? labelValues.expr : queryOf(variable) });
  }
  return queries;
}
