// pm2 process file for inference-proxy.
//
//   BACKEND_URL=http://gpu1:8000,http://gpu2:8000 PORT=8001 WORKERS=4 npx pm2 start ecosystem.config.js
//   CONFIG=fleet.yaml npx pm2 start ecosystem.config.js
//
// The environment of the shell that runs `pm2 start` is read here, once, and mapped to flags:
//   CONFIG      -> --config      a YAML or JSON file (any flag by name, and `backends:`); a relative path
//                                is taken from the directory you run `pm2 start` in
//   BACKEND_URL -> --backend-url one backend or a comma-separated list
//   HOST        -> --host
//   PORT        -> --port
//   WORKERS     -> --workers     (unset: one worker per CPU)
// Only the variables that are set become flags. Unset ones leave the value to the config file, then to the
// proxy's defaults (backend http://localhost:8000, host 0.0.0.0, port 8001): a flag would override the
// file, and backends on the command line replace the file's whole list. Any other flag can still be set
// with its INFERENCE_PROXY_<FLAG> variable (see --help).
// `pm2 restart ... --update-env` is needed for pm2 to pick up changed variables.
//
// Reloads: in fork mode `pm2 reload` is the same as `pm2 restart` — a full stop and start, so
// requests are refused while the new primary boots. The zero-downtime path is the proxy's own
// SIGHUP: it re-reads the CONFIG file (backends added and removed at once, in-flight streams on removed
// ones finish) and replaces its workers one at a time:
//
//   npx pm2 sendSignal SIGHUP inference-proxy
//
// pm2 7 loads this ES module with require(esm); it reads the named export `apps`.

import { resolve } from 'node:path';

/** Must match --drain-timeout (default 30000 ms): pm2 waits this long plus a margin before SIGKILL. */
const DRAIN_TIMEOUT_MS = 30_000;

const env = process.env;
/** `--flag value` when the variable is set and not empty, nothing otherwise. */
const flag = (name, value) => (value ? [name, value] : []);
const args = [
  // Absolute, so that the proxy (which runs in this file's directory) and every SIGHUP read the same file.
  ...flag('--config', env.CONFIG && resolve(env.CONFIG)),
  // The proxy splits the list itself and names a bad or duplicate URL in one line (exit code 2).
  ...flag('--backend-url', env.BACKEND_URL),
  ...flag('--host', env.HOST),
  ...flag('--port', env.PORT),
  ...flag('--workers', env.WORKERS),
];

export const apps = [
  {
    name: 'inference-proxy',
    script: './dist/src/main.js',
    // Resolve the script against this file's directory, whatever the cwd of `pm2 start` is.
    cwd: import.meta.dirname,
    args,
    // Fork mode, one instance. In pm2 cluster mode pm2 itself is the cluster primary, so our
    // primary (worker supervision, rolling restarts, exact metrics aggregation over all workers)
    // could not run; the proxy refuses to start that way (exit code 2). Scale with --workers.
    exec_mode: 'fork',
    instances: 1,
    // The primary sends 'ready' once every worker listens; `pm2 start` returns only then.
    wait_ready: true,
    listen_timeout: 30_000,
    // pm2's default stop signal, SIGINT: the primary drains its workers (bounded by
    // --drain-timeout) and exits 0. SIGKILL only if that takes longer than the drain plus a margin.
    kill_timeout: DRAIN_TIMEOUT_MS + 10_000,
    // Signal the primary only. With treekill pm2 would signal the workers at the same time, behind
    // the primary's back; our primary controls the shutdown order (drain, final metrics, exit).
    treekill: false,
    autorestart: true,
    // A process that dies within min_uptime counts as an unstable start; after max_restarts of
    // those pm2 gives up (status errored). Restarts back off exponentially from 200 ms.
    min_uptime: 10_000,
    max_restarts: 10,
    exp_backoff_restart_delay: 200,
    // Exit code 2 is a configuration error (bad flag, a port the proxy cannot listen on, or pm2
    // cluster mode): restarting cannot fix it, so do not restart-loop.
    stop_exit_codes: [2],
    merge_logs: true,
    // The proxy logs JSON lines with their own "time" field: no pm2 timestamp prefix.
    time: false,
    env: { NODE_ENV: 'production' },
  },
];
