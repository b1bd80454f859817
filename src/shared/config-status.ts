/** What became of a reload (SIGHUP): workers being replaced, done, refused (bad configuration), or cut short. */
export type ReloadResult = 'restarting' | 'applied' | 'rejected' | 'failed';

/** The configuration in force and the last reload, as the primary knows them and hands to the workers. */
export interface ConfigStatus {
  /** 1 at start, one more for each reload that put a new configuration in force. */
  readonly generation: number;
  /** Reloads handled since start (one per SIGHUP, in order). */
  readonly reloads: number;
  readonly lastReload: { readonly result: ReloadResult; readonly atMs: number; readonly error: string | null } | null;
}

export const FIRST_CONFIG: ConfigStatus = { generation: 1, reloads: 0, lastReload: null };

/** The `config` part of /healthz: what `proxy_ctl.sh reload` waits on for its verdict. */
export function configHealth(status: ConfigStatus, nowMs = Date.now()): Record<string, unknown> {
  const last = status.lastReload;
  return {
    generation: status.generation,
    reloads: status.reloads,
    lastReload: last === null ? null : { result: last.result, ageSeconds: Math.round((nowMs - last.atMs) / 100) / 10, error: last.error },
  };
}
