import { readdir } from 'node:fs/promises';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KEY_KINDS } from './routing-key.js';
import type { RoutingPolicy } from './selector.js';

/** One module per selection policy, each exporting its declaration as `policy`. */
const POLICIES_DIR = new URL('./policies/', import.meta.url);
/** .js once built; the policies are modules like this one. */
const MODULE_EXTENSION = extname(fileURLToPath(import.meta.url));

/**
 * Imports every module of `dir` and collects the policy each declares: adding a policy is adding its file,
 * and no other file lists the policies (Caddy's modules register themselves the same way). A module that
 * declares none, a policy not named after its file, a name taken twice or an unknown routing key is a
 * build mistake: loading throws, naming the file. Plain policies come first, then the keyed ones, each by
 * name: the order of --help and of the "expected ..." line of a bad --routing.
 */
export async function loadPolicies(dir: URL): Promise<RoutingPolicy[]> {
  const files = (await readdir(dir)).filter((file) => extname(file) === MODULE_EXTENSION).sort();
  const policies: RoutingPolicy[] = [];
  for (const file of files) {
    const url = new URL(file, dir);
    const where = `routing policy ${fileURLToPath(url)}`;
    const { policy } = (await import(url.href)) as { policy?: RoutingPolicy };
    if (typeof policy?.create !== 'function') throw new Error(`${where}: exports no policy`);
    if (`${policy.name}${MODULE_EXTENSION}` !== file)
      throw new Error(`${where}: declares ${JSON.stringify(policy.name)}, not its file's name`);
    if (policy.key !== null && !KEY_KINDS.includes(policy.key))
      throw new Error(`${where}: unknown routing key ${JSON.stringify(policy.key)}`);
    policies.push(Object.freeze({ ...policy }));
  }
  return policies.sort((a, b) => Number(a.key !== null) - Number(b.key !== null) || a.name.localeCompare(b.name));
}

/**
 * Every policy, found once when this module is first imported: the top-level await makes every importer
 * (the flags, the config, the workers' selection) wait until they are all loaded.
 */
export const ROUTING_POLICIES: readonly RoutingPolicy[] = Object.freeze(await loadPolicies(POLICIES_DIR));

const BY_NAME: ReadonlyMap<string, RoutingPolicy> = new Map(ROUTING_POLICIES.map((policy) => [policy.name, policy]));

/** The policy named `name`: one that the config validated (buildConfig accepts only these names). */
export function routingPolicy(name: string): RoutingPolicy {
  const policy = BY_NAME.get(name);
  if (policy === undefined) throw new Error(`unknown routing policy ${JSON.stringify(name)}`);
  return policy;
}
