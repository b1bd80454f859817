/**
 * The inference engines' administrative routes: they change or stop the engine for everyone (sleep,
 * weights, adapters, caches, profiling) or read its internals, and the engines' own --api-key does not
 * cover several of them (vLLM PR #29922). The proxy answers them 403 unless the key has `admin: true` or
 * --allow-admin-routes is on. This table is the one list: the README's security section and the tests
 * read it.
 */
export const ADMIN_ROUTES: ReadonlyArray<{ readonly path: string; readonly engines: string }> = [
  { path: '/sleep', engines: 'vLLM' },
  { path: '/wake_up', engines: 'vLLM' },
  { path: '/collective_rpc', engines: 'vLLM' },
  { path: '/reset_prefix_cache', engines: 'vLLM' },
  { path: '/start_profile', engines: 'vLLM, SGLang' },
  { path: '/stop_profile', engines: 'vLLM, SGLang' },
  { path: '/v1/load_lora_adapter', engines: 'vLLM' },
  { path: '/v1/unload_lora_adapter', engines: 'vLLM' },
  { path: '/scale_elastic_ep', engines: 'vLLM' },
  { path: '/flush_cache', engines: 'SGLang' },
  { path: '/update_weights_from_disk', engines: 'SGLang' },
  { path: '/update_weights_from_tensor', engines: 'SGLang' },
  { path: '/update_weights_from_distributed', engines: 'SGLang' },
  { path: '/update_weights_from_ipc', engines: 'SGLang' },
  { path: '/update_weight_version', engines: 'SGLang' },
  { path: '/init_weights_update_group', engines: 'SGLang' },
  { path: '/destroy_weights_update_group', engines: 'SGLang' },
  { path: '/init_weights_send_group_for_remote_instance', engines: 'SGLang' },
  { path: '/send_weights_to_remote_instance', engines: 'SGLang' },
  { path: '/get_weights_by_name', engines: 'SGLang' },
  { path: '/release_memory_occupation', engines: 'SGLang' },
  { path: '/resume_memory_occupation', engines: 'SGLang' },
  { path: '/load_lora_adapter', engines: 'SGLang' },
  { path: '/unload_lora_adapter', engines: 'SGLang' },
  { path: '/abort_request', engines: 'SGLang' },
  { path: '/set_internal_state', engines: 'SGLang' },
  { path: '/configure_logging', engines: 'SGLang' },
  { path: '/slow_down', engines: 'SGLang' },
  { path: '/freeze_gc', engines: 'SGLang' },
  { path: '/clear_hicache_storage_backend', engines: 'SGLang' },
  { path: '/start_expert_distribution_record', engines: 'SGLang' },
  { path: '/stop_expert_distribution_record', engines: 'SGLang' },
  { path: '/dump_expert_distribution_record', engines: 'SGLang' },
];

const PATHS: ReadonlySet<string> = new Set(ADMIN_ROUTES.map((route) => route.path));
/** What an engine's router would read differently from the raw bytes: escapes, dot segments, repeated or trailing slashes. */
const UNUSUAL = /[%.\\]|\/\/|.\/$/;

/**
 * True when `path` (the path the backend will see, below its base path; a query is ignored) names an
 * admin route as the engine would route it: percent-escapes decoded, `.` and `..` segments resolved,
 * repeated and trailing slashes dropped. A path that cannot be decoded counts as one, so it is refused.
 */
export function isAdminRoute(target: string): boolean {
  const queryAt = target.search(/[?#]/);
  let path = queryAt === -1 ? target : target.slice(0, queryAt);
  // Most paths are plain: nothing to decode or resolve.
  if (!UNUSUAL.test(path)) return PATHS.has(path);
  if (path.includes('%')) {
    try {
      path = decodeURIComponent(path);
    } catch {
      return true;
    }
  }
  return PATHS.has(normalize(path));
}

function normalize(path: string): string {
  const out: string[] = [];
  for (const segment of path.split(/[/\\]+/)) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') out.pop();
    else out.push(segment);
  }
  return `/${out.join('/')}`;
}
