import type { BenchArgs } from '../bench-args.js';
import type { Nginx } from './nginx.js';
import type { AltNode } from './node-binary.js';
import { httpTargetDefs, portkeyDef, type TargetDef, withNodeTwins } from './target-defs.js';
import { DIRECT_TARGET, NGINX_TARGET, PROXY_TARGET, SIMPLE_2W_TARGET, SIMPLE_TARGET } from './target-names.js';
import { TENANT_TARGETS } from './tenant-targets.js';

/** The backend asked straight for Portkey's request (Portkey serves /v1/* only, and our proxy answers /v1/models itself). */
const DIRECT_MODELS_TARGET = 'direct-models';
/** The small request: the `small` workload's (a 24-byte JSON answer). */
const OVERHEAD_PATH = '/version';
/** Portkey's small request, forwarded to <backend>/v1/models (a 102-byte JSON answer). */
const PORTKEY_PATH = '/v1/models';

/** A target of the overhead workload: what it is asked, and the direct target that asks the backend the same. */
export interface OverheadTargetDef extends TargetDef {
  path: string;
  /** The direct target whose request reaches the backend as this target's does: added figures are against it. */
  reference: string;
}

const FROM_HTTP = [PROXY_TARGET, 'proxy-2w', ...TENANT_TARGETS, SIMPLE_TARGET, SIMPLE_2W_TARGET, 'fastify', NGINX_TARGET];

/**
 * direct and direct-models first (the references), then the proxies in the order of the tables: ours, the Node
 * peers, Portkey, nginx. The proxies are the small workload's; `dir` must be the overhead workload's own (a log
 * per process and workload: a proxy must not find a stopped one's "ready" line in its log).
 */
export function overheadTargetDefs(dir: string, nginx: Nginx | null, node: AltNode | null): OverheadTargetDef[] {
  const http = new Map(httpTargetDefs(dir, nginx).map((d) => [d.name, d]));
  const direct = (name: string, path: string): OverheadTargetDef => ({
    name,
    about: `the mock backend itself, \`GET ${path}\``,
    start: null,
    path,
    reference: name,
  });
  const proxies: OverheadTargetDef[] = FROM_HTTP.flatMap((name) => {
    const def = http.get(name);
    return def === undefined ? [] : [{ ...def, path: OVERHEAD_PATH, reference: DIRECT_TARGET }];
  });
  const portkey: OverheadTargetDef = { ...portkeyDef(dir, 'overhead-portkey'), path: PORTKEY_PATH, reference: DIRECT_MODELS_TARGET };
  const nginxDefs = proxies.filter((d) => d.name === NGINX_TARGET);
  const withTwins = withNodeTwins([...proxies.filter((d) => d.name !== NGINX_TARGET), portkey, ...nginxDefs], node) as OverheadTargetDef[];
  return [direct(DIRECT_TARGET, OVERHEAD_PATH), direct(DIRECT_MODELS_TARGET, PORTKEY_PATH), ...withTwins];
}

/** --targets, plus the references the chosen targets are compared with (they are never left out). */
export function selectOverheadTargets(defs: readonly OverheadTargetDef[], args: BenchArgs): OverheadTargetDef[] {
  // The keys' limits join the long overhead run only when named (`--targets proxy-1w-key,...`).
  if (args.targets === null) return withoutUnusedReferences(defs.filter((d) => !(TENANT_TARGETS as readonly string[]).includes(d.name)));
  const chosen = defs.filter((d) => args.targets?.includes(d.name));
  const references = new Set(chosen.map((d) => d.reference));
  return defs.filter((d) => args.targets?.includes(d.name) || references.has(d.name));
}

/** direct-models only serves Portkey: without Portkey it is not run. */
function withoutUnusedReferences(defs: readonly OverheadTargetDef[]): OverheadTargetDef[] {
  const references = new Set(defs.filter((d) => d.start !== null).map((d) => d.reference));
  return defs.filter((d) => d.start !== null || d.name === DIRECT_TARGET || references.has(d.name));
}
