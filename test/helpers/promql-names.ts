/**
 * A small lexical reader of PromQL, enough to find what a dashboard query depends on: metric names,
 * the labels of its selectors and groupings, and the functions it calls. Not a parser: it relies on
 * string literals, `{...}` selectors and `[...]` ranges never nesting, which holds for PromQL.
 */
import { parsePromText, parseTypes } from '../../src/metrics/prom-text.js';

/** PromQL functions and aggregation operators (Prometheus 2.x/3.x). */
export const PROMQL_FUNCTIONS: ReadonlySet<string> = new Set([
  // aggregation operators
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
  'limitk',
  'limit_ratio',
  // functions
  'abs',
  'absent',
  'absent_over_time',
  'acos',
  'acosh',
  'asin',
  'asinh',
  'atan',
  'atanh',
  'avg_over_time',
  'ceil',
  'changes',
  'clamp',
  'clamp_max',
  'clamp_min',
  'cos',
  'cosh',
  'count_over_time',
  'day_of_month',
  'day_of_week',
  'day_of_year',
  'days_in_month',
  'deg',
  'delta',
  'deriv',
  'double_exponential_smoothing',
  'exp',
  'floor',
  'histogram_avg',
  'histogram_count',
  'histogram_fraction',
  'histogram_quantile',
  'histogram_stddev',
  'histogram_stdvar',
  'histogram_sum',
  'holt_winters',
  'hour',
  'idelta',
  'increase',
  'info',
  'irate',
  'label_join',
  'label_replace',
  'last_over_time',
  'ln',
  'log10',
  'log2',
  'mad_over_time',
  'max_over_time',
  'min_over_time',
  'minute',
  'month',
  'pi',
  'predict_linear',
  'present_over_time',
  'quantile_over_time',
  'rad',
  'rate',
  'resets',
  'round',
  'scalar',
  'sgn',
  'sin',
  'sinh',
  'sort',
  'sort_by_label',
  'sort_by_label_desc',
  'sort_desc',
  'sqrt',
  'stddev_over_time',
  'stdvar_over_time',
  'sum_over_time',
  'tan',
  'tanh',
  'time',
  'timestamp',
  'vector',
  'year',
]);

/** Words that are part of the language, never metric names. */
export const PROMQL_KEYWORDS: ReadonlySet<string> = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'atan2',
  'inf',
  'nan',
]);

export interface Selector {
  /** The metric name before the braces; '' for a bare `{...}` selector. */
  readonly metric: string;
  /** Label names used by the matchers inside the braces. */
  readonly labels: readonly string[];
}

export interface PromqlRefs {
  /** Metric names, as written (with `_bucket`, `_sum`, `_count`, `_total`). */
  readonly metrics: readonly string[];
  /** Called functions and aggregation operators. */
  readonly functions: readonly string[];
  readonly selectors: readonly Selector[];
  /** Labels named in `by (...)`, `without (...)`, `on (...)`, `ignoring (...)`, `group_left/right (...)`. */
  readonly groupingLabels: readonly string[];
  /** The text inside every `[...]`: range and subquery durations. */
  readonly ranges: readonly string[];
  /** Destination labels created by `label_replace(v, "dst", ...)` or `label_join(v, "dst", ...)`. */
  readonly createdLabels: readonly string[];
}

const STRING_LITERAL = /"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g;
const CREATED_LABEL = /\blabel_(?:replace|join)\s*\(.*?,\s*"([a-zA-Z_][a-zA-Z0-9_]*)"\s*,/g;
const SELECTOR = /([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}/g;
const MATCHER_LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g;
const RANGE = /\[[^\]]*\]/g;
const GROUPING = /\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g;
/** An identifier not inside a number (1e-9, 0.95) and not a Grafana `$variable`. */
const IDENTIFIER = /(?<![a-zA-Z0-9_:$.])([a-zA-Z_:][a-zA-Z0-9_:]*)/g;

const splitLabels = (text: string): string[] =>
  text
    .split(',')
    .map((label) => label.trim())
    .filter((label) => label !== '');

/** What one PromQL expression (with Grafana `$variables` in it) refers to. */
export function promqlRefs(expr: string): PromqlRefs {
  const createdLabels = [...expr.matchAll(CREATED_LABEL)].map((match) => match[1] as string);
  let text = expr.replace(STRING_LITERAL, '""');
  const selectors: Selector[] = [];
  text = text.replace(SELECTOR, (_whole, metric: string | undefined, body: string) => {
    selectors.push({ metric: metric ?? '', labels: [...body.matchAll(MATCHER_LABEL)].map((match) => match[1] as string) });
    return ` ${metric ?? ''} `;
  });
  const ranges = [...text.matchAll(RANGE)].map((match) => match[0].slice(1, -1));
  text = text.replace(RANGE, ' ');
  const groupingLabels: string[] = [];
  // Dropped with its keyword, so that `sum by (le) (...)` reads as the call `sum (...)`.
  text = text.replace(GROUPING, (_whole, _keyword: string, labels: string) => {
    groupingLabels.push(...splitLabels(labels));
    return ' ';
  });
  const metrics = new Set<string>();
  const functions = new Set<string>();
  for (const match of text.matchAll(IDENTIFIER)) {
    const name = match[1] as string;
    const rest = text.slice((match.index ?? 0) + name.length);
    if (/^\s*\(/.test(rest)) functions.add(name);
    else if (!PROMQL_KEYWORDS.has(name)) metrics.add(name);
  }
  return { metrics: [...metrics], functions: [...functions], selectors, groupingLabels, createdLabels, ranges };
}

/** `label_values(expr, label)` of a Grafana query variable, or null for another kind of query. */
export function parseLabelValues(query: string): { expr: string; label: string } | null {
  const match = /^\s*label_values\(\s*(.*?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$/.exec(query);
  return match ? { expr: match[1] as string, label: match[2] as string } : null;
}

export interface Exposition {
  /** Metric family name -> type, from the `# TYPE` lines (present even for a family without samples). */
  readonly types: ReadonlyMap<string, string>;
  /** Names that have at least one sample line. */
  readonly sampled: ReadonlySet<string>;
}

/** The families and sample names of a Prometheus text exposition. */
export function readExposition(text: string): Exposition {
  return { types: parseTypes(text), sampled: new Set(parsePromText(text).keys()) };
}

const SERIES_SUFFIX = /_(bucket|sum|count)$/;

/**
 * The family a name used in a query belongs to: itself when declared (`input_requests_total`), or the
 * histogram/summary it is a series of (`x_bucket` -> `x`), or undefined when the exposition has no such name.
 */
export function familyOf(name: string, exposition: Exposition): string | undefined {
  if (exposition.types.has(name)) return name;
  const suffix = SERIES_SUFFIX.exec(name);
  if (!suffix) return undefined;
  const base = name.slice(0, -suffix[0].length);
  const type = exposition.types.get(base);
  if (type === 'histogram') return base;
  if (type === 'summary' && suffix[1] !== 'bucket') return base;
  return undefined;
}
