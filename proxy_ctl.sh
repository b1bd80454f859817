#!/usr/bin/env bash
# proxy_ctl.sh — start, stop, reload and inspect inference-proxy without a process manager.
#
#   BACKEND_URL=http://gpu-box:8000 PORT=9000 WORKERS=4 ./proxy_ctl.sh start
#   BACKEND_URL=http://gpu1:8000,http://gpu2:8000 ./proxy_ctl.sh start    # a fleet: a comma-separated list
#   CONFIG=/etc/inference-proxy/fleet.yaml ./proxy_ctl.sh start            # backends, weights, any flag
#
# BACKEND_URL goes to --backend-url as it is (the proxy splits the list); CONFIG to --config, as an absolute
# path, so that `reload` (SIGHUP) re-reads the same file whatever directory `start` ran in. Given both, the
# file's other settings apply and BACKEND_URL replaces its backends: list (command line > file). HOST, PORT
# and WORKERS become flags only when set, so that the file's host:, port: and workers: apply otherwise.
# `start` asks the proxy itself (--check-config) where it will listen, and keeps that beside the pidfile
# for status and reload.
#
# Design: the proxy is started as a plain background process (`setsid nohup node dist/src/main.js
# ... &`) with a pidfile; no daemon stays behind. The proxy's own primary process supervises its
# workers (restarts a crashed one, rolling restart on SIGHUP, drain on SIGTERM), so this script
# only starts it, signals it, and waits. setsid gives the proxy its own session and process group:
# it survives the terminal that started it, and `stop` can find every worker through that group
# even after the primary is gone. For restart-on-crash and boot persistence use pm2 with
# ecosystem.config.js instead.
#
# Needs only bash, curl and procps (ps, pgrep, kill). The build is not done here: run `npm ci`
# (its prepare script compiles dist/).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Every variable can be overridden from the environment.
BACKEND_URL="${BACKEND_URL:-}"                      # --backend-url: a URL or a comma-separated list
CONFIG="${CONFIG:-}"                                # --config FILE (YAML or JSON); reload re-reads it
HOST="${HOST:-}"                                    # --host; empty: the file's host:, else 0.0.0.0
PORT="${PORT:-}"                                    # --port; empty: the file's port:, else 8001 (must not be 0)
WORKERS="${WORKERS:-}"                              # --workers; empty: one worker per CPU
RUN_DIR="${RUN_DIR:-$SCRIPT_DIR/run}"               # holds the log and the pidfile by default
LOG_FILE="${LOG_FILE:-$RUN_DIR/inference-proxy.log}" # stdout and stderr of the proxy, appended
PID_FILE="${PID_FILE:-$RUN_DIR/inference-proxy.pid}" # pid of the primary
ADDR_FILE="${PID_FILE%.pid}.address"                # "host port" the primary listens on, written by start
NODE="${NODE:-node}"                                # node binary
START_TIMEOUT="${START_TIMEOUT:-30}"                # seconds to wait for /healthz after start
STOP_TIMEOUT="${STOP_TIMEOUT:-40}"                  # seconds before SIGKILL: --drain-timeout (30 s) + margin
RELOAD_TIMEOUT="${RELOAD_TIMEOUT:-60}"              # seconds to wait for a reload's verdict

MAIN="$SCRIPT_DIR/dist/src/main.js"
NAME="inference-proxy"

usage() {
  cat <<EOF
usage: $(basename "$0") start|stop|restart|reload|check|status|logs [N]

  start    check the configuration, start the proxy in the background; returns once /healthz answers
           (exit 0 if already running, 2 with one line if the configuration is refused)
  stop     graceful stop (SIGTERM: workers drain), SIGKILL after ${STOP_TIMEOUT} s (exit 0 if not running)
  restart  stop, then start
  reload   SIGHUP: re-read the configuration, rolling restart of the workers (zero downtime); waits for
           the proxy's verdict: exit 0 applied, 6 rejected (the running configuration stays; the reason
           is printed) or workers not all replaced, 4 no verdict within ${RELOAD_TIMEOUT} s, 7 not running
  check    validate the configuration start would use (inference-proxy --check-config): exit 0 or 2
  status   pid, workers, traffic, and a table of the backends: state, in flight, share of the last
           minute's requests, p50 time to first token. Exit 0 running with a backend up, 3 not running,
           4 running but /healthz does not answer or no backend is up
  logs     follow the log (last 100 lines, then new ones); logs N prints the last N lines and exits

environment: BACKEND_URL=${BACKEND_URL:-<none>}  one backend URL or a comma-separated list (--backend-url);
               none: the backends of CONFIG, else the proxy's default (http://localhost:8000)
             CONFIG=${CONFIG:-<none>}  a YAML or JSON file (--config): backends with weights and models,
               any flag by name; BACKEND_URL, if given too, replaces its backends
             HOST=${HOST:-<from CONFIG, else 0.0.0.0>} PORT=${PORT:-<from CONFIG, else 8001>}
             WORKERS=${WORKERS:-<from CONFIG, else the CPU count>}
             RUN_DIR=$RUN_DIR LOG_FILE=$LOG_FILE PID_FILE=$PID_FILE
             NODE=$NODE START_TIMEOUT=$START_TIMEOUT STOP_TIMEOUT=$STOP_TIMEOUT RELOAD_TIMEOUT=$RELOAD_TIMEOUT
EOF
}

die() {
  echo "$NAME: $*" >&2
  exit 1
}

need_curl() {
  command -v curl >/dev/null 2>&1 || die "curl is required (install it, e.g. apt-get install curl)"
}

# A pid counts as alive if it exists and is not a zombie waiting to be reaped.
alive() {
  local stat
  stat="$(ps -o stat= -p "$1" 2>/dev/null || true)"
  [[ -n "$stat" && "$stat" != Z* ]]
}

# Prints the pid from the pidfile if that process is alive and is our proxy; removes a stale pidfile.
running_pid() {
  local pid
  [[ -f "$PID_FILE" ]] || return 1
  pid="$(tr -dc '0-9' <"$PID_FILE")"
  if [[ -n "$pid" ]] && alive "$pid" && [[ "$(ps -o args= -p "$pid" 2>/dev/null)" == *"$MAIN"* ]]; then
    echo "$pid"
    return 0
  fi
  rm -f "$PID_FILE" "$ADDR_FILE"
  return 1
}

# Value of a flag on the running primary's command line (the source of truth for status and stop).
arg_of() {
  ps -o args= -p "$1" | awk -v flag="$2" '{ for (i = 1; i < NF; i++) if ($i == flag) { print $(i + 1); exit } }'
}

# Address to reach a proxy listening on $1 (0.0.0.0 and :: mean every interface).
connect_host() {
  case "$1" in
  0.0.0.0 | "") echo "127.0.0.1" ;;
  :: | "[::]") echo "[::1]" ;;
  *:*) echo "[$1]" ;;
  *) echo "$1" ;;
  esac
}

# The body of /healthz when it answers 200, or 503 with the backends listed (no backend is up: the
# proxy runs, in panic mode); fails otherwise (no answer, or a worker that is draining).
healthz() { # host port
  local out
  out="$(curl -sS --max-time 2 -w '\n%{http_code}' "http://$(connect_host "$1"):$2/healthz" 2>/dev/null)" || return 1
  case "${out##*$'\n'}" in
  200) ;;
  503) [[ "$out" == *'"backends":'* ]] || return 1 ;;
  *) return 1 ;;
  esac
  printf '%s\n' "${out%$'\n'*}"
}

# The first "key":number of the JSON: the top-level one in /healthz (workers further on have keys of the same name).
json_number() { # json key
  grep -o "\"$2\":[0-9][0-9]*" <<<"$1" | head -n 1 | cut -d: -f2
}

# What the proxy fronts, by its precedence: the --backend-url list, the environment's, the file's, the default.
backends_of() { # backend-url config
  if [[ -n "$1" ]]; then
    echo "$1"
  elif [[ -n "${INFERENCE_PROXY_BACKEND_URL:-}" ]]; then
    echo "$INFERENCE_PROXY_BACKEND_URL"
  elif [[ -n "$2" ]]; then
    echo "the backends of $2"
  else
    echo "http://localhost:8000"
  fi
}

# The primary and every process of its group (its workers), alive ones only.
tree_pids() { # pid pgid-or-empty extra-pids...
  local pid="$1" pgid="$2" p
  shift 2
  local all=("$pid")
  mapfile -t -O 1 all < <(pgrep -P "$pid" 2>/dev/null || true)
  if [[ -n "$pgid" ]]; then mapfile -t -O "${#all[@]}" all < <(pgrep -g "$pgid" 2>/dev/null || true); fi
  for p in $(printf '%s\n' "${all[@]}" "$@" | sort -un); do
    if alive "$p"; then echo "$p"; fi
  done
}

# Our own process group if the primary leads one (setsid), else empty.
own_group() {
  local pgid
  pgid="$(ps -o pgid= -p "$1" 2>/dev/null | tr -d ' ' || true)"
  [[ "$pgid" == "$1" ]] && echo "$pgid" || true
}

kill_tree() { # pid pgid-or-empty extra-pids...
  local pid="$1" pgid="$2"
  [[ -n "$pgid" ]] && kill -KILL -- "-$pgid" 2>/dev/null || true
  # shellcheck disable=SC2046
  kill -KILL $(tree_pids "$@") 2>/dev/null || true
}

# The proxy's arguments from the variables that are set: a flag would override the config file's value.
proxy_args() { # config
  local args=()
  [[ -n "$HOST" ]] && args+=(--host "$HOST")
  [[ -n "$PORT" ]] && args+=(--port "$PORT")
  [[ -n "$BACKEND_URL" ]] && args+=(--backend-url "$BACKEND_URL")
  [[ -n "$1" ]] && args+=(--config "$1")
  [[ -n "$WORKERS" ]] && args+=(--workers "$WORKERS")
  if ((${#args[@]} > 0)); then printf '%s\n' "${args[@]}"; fi
}

# CONFIG as an absolute path (empty if unset); dies if the file is missing.
config_path() {
  [[ -n "$CONFIG" ]] || return 0
  [[ -f "$CONFIG" ]] || die "CONFIG: no such file: $CONFIG"
  echo "$(cd "$(dirname "$CONFIG")" && pwd)/$(basename "$CONFIG")"
}

# "host port" of the running proxy: as start recorded it, else its command line's, else the defaults.
address_of() { # pid
  local host port
  if [[ -f "$ADDR_FILE" ]]; then
    cat "$ADDR_FILE"
    return 0
  fi
  host="$(arg_of "$1" --host)"
  port="$(arg_of "$1" --port)"
  echo "${host:-0.0.0.0} ${port:-8001}"
}

cmd_check() {
  local config args
  command -v "$NODE" >/dev/null 2>&1 || die "node not found (NODE=$NODE)"
  [[ -f "$MAIN" ]] || die "$MAIN is missing: run 'npm ci' in $SCRIPT_DIR first (it builds dist/)"
  config="$(config_path)"
  mapfile -t args < <(proxy_args "$config")
  "$NODE" "$MAIN" --check-config "${args[@]}"
}

cmd_start() {
  local pid offset started deadline json hpid alive_workers code reason config checked listen host port expected setsid_cmd=()
  need_curl
  if pid="$(running_pid)"; then
    echo "$NAME is already running (pid $pid)"
    return 0
  fi
  command -v "$NODE" >/dev/null 2>&1 || die "node not found (NODE=$NODE)"
  [[ -f "$MAIN" ]] || die "$MAIN is missing: run 'npm ci' in $SCRIPT_DIR first (it builds dist/)"
  config="$(config_path)"
  local args
  mapfile -t args < <(proxy_args "$config")
  # The proxy's own check first: a refused configuration fails here with its one line (exit 2), and the
  # verdict says where it will listen and how many workers it runs, whichever of flags and file say so.
  code=0
  checked="$("$NODE" "$MAIN" --check-config "${args[@]}")" || code=$?
  ((code == 0)) || exit "$code"
  listen="$(sed -n 's/.* listen \([^ ]*\), \([0-9]*\) workers,.*/\1 \2/p' <<<"$checked")"
  [[ -n "$listen" ]] || die "cannot read the address from: $checked"
  host="${listen%:* *}"
  host="${host#[}"
  host="${host%]}"
  port="${listen##*:}"
  expected="${port#* }"
  port="${port% *}"
  [[ "$port" =~ ^[1-9][0-9]*$ ]] || die "the port must be fixed (got $port): status and stop need to know it; set PORT or port: in CONFIG"
  mkdir -p "$(dirname "$LOG_FILE")" "$(dirname "$PID_FILE")"
  touch "$LOG_FILE"
  offset="$(wc -c <"$LOG_FILE" | tr -d ' ')"

  command -v setsid >/dev/null 2>&1 && setsid_cmd=(setsid)
  # A background job of a non-interactive shell leads no process group, so setsid does not fork
  # and $! is the pid of node itself. nohup only matters without setsid.
  "${setsid_cmd[@]}" nohup "$NODE" "$MAIN" "${args[@]}" >>"$LOG_FILE" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PID_FILE"
  echo "$host $port" >"$ADDR_FILE"
  trap 'kill_tree "$pid" "$(own_group "$pid")"; rm -f "$PID_FILE" "$ADDR_FILE"; exit 130' INT TERM

  # Ready when /healthz is answered by one of OUR workers (not by some other process on the port)
  # and all of them are up.
  reason="no answer from /healthz within ${START_TIMEOUT} s"
  started=$SECONDS
  deadline=$((started + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! alive "$pid"; then
      code=0
      wait "$pid" 2>/dev/null || code=$?
      reason="the process exited with code $code"
      break
    fi
    if json="$(healthz "$host" "$port")"; then
      hpid="$(json_number "$json" pid)"
      alive_workers="$(json_number "$json" workersAlive)"
      if [[ -n "$hpid" && "$(ps -o ppid= -p "$hpid" 2>/dev/null | tr -d ' ')" == "$pid" ]] && [[ "$alive_workers" == "$expected" ]]; then
        trap - INT TERM
        echo "started $NAME (pid $pid) on $host:$port -> $(backends_of "$BACKEND_URL" "$config")"
        return 0
      fi
    fi
    sleep 0.2
  done
  trap - INT TERM
  kill_tree "$pid" "$(own_group "$pid")"
  rm -f "$PID_FILE" "$ADDR_FILE"
  {
    echo "$NAME failed to start after $((SECONDS - started)) s: $reason"
    echo "--- last 20 lines of $LOG_FILE ---"
    tail -c "+$((offset + 1))" "$LOG_FILE" | tail -n 20
  } >&2
  return 1
}

cmd_stop() {
  local pid pgid workers deadline left
  if ! pid="$(running_pid)"; then
    echo "$NAME is not running"
    return 0
  fi
  pgid="$(own_group "$pid")"
  # Learn the workers before the signal: once the primary is gone they are no longer its children.
  mapfile -t workers < <(pgrep -P "$pid" || true)
  kill -TERM "$pid" 2>/dev/null || true
  # +1: SECONDS ticks in whole seconds, so the wait is at least STOP_TIMEOUT.
  deadline=$((SECONDS + STOP_TIMEOUT + 1))
  while ((SECONDS < deadline)); do
    left="$(tree_pids "$pid" "$pgid" "${workers[@]}")"
    [[ -z "$left" ]] && break
    sleep 0.2
  done
  left="$(tree_pids "$pid" "$pgid" "${workers[@]}")"
  if [[ -n "$left" ]]; then
    echo "$NAME: still running after ${STOP_TIMEOUT} s, sending SIGKILL to:" $left >&2
    kill_tree "$pid" "$pgid" "${workers[@]}"
    deadline=$((SECONDS + 5))
    while ((SECONDS < deadline)) && [[ -n "$(tree_pids "$pid" "$pgid" "${workers[@]}")" ]]; do sleep 0.2; done
  fi
  rm -f "$PID_FILE" "$ADDR_FILE"
  echo "stopped $NAME (pid $pid)"
}

cmd_reload() {
  local pid host port
  if ! pid="$(running_pid)"; then
    echo "$NAME is not running"
    return 7
  fi
  read -r host port <<<"$(address_of "$pid")"
  echo "reloading $NAME (pid $pid): SIGHUP, rolling restart of the workers; waiting for the verdict"
  "$NODE" "$SCRIPT_DIR/dist/src/ctl/reload-verdict.js" "http://$(connect_host "$host"):$port" "$pid" "$RELOAD_TIMEOUT"
}

cmd_status() {
  local pid host port json
  need_curl
  if ! pid="$(running_pid)"; then
    echo "$NAME is not running"
    return 3
  fi
  read -r host port <<<"$(address_of "$pid")"
  if ! json="$(healthz "$host" "$port")"; then
    echo "$NAME is running (pid $pid) on $host:$port but /healthz does not answer"
    return 4
  fi
  echo "$NAME is running (pid $pid) on $host:$port -> $(backends_of "$(arg_of "$pid" --backend-url)" "$(arg_of "$pid" --config)")"
  echo "workers alive: $(json_number "$json" workersAlive), uptime: $(json_number "$json" uptimeSeconds) s, configuration generation $(json_number "$json" generation)"
  # Workers with pids and uptimes, in-flight, QPS, p99 time to first token, and the table of the backends.
  "$NODE" "$SCRIPT_DIR/dist/src/ctl/status-report.js" "http://$(connect_host "$host"):$port" || true
  # Running, but in panic mode: the table says which backends are out.
  [[ "$json" == '{"status":"ok"'* ]] || return 4
}

cmd_logs() {
  [[ -f "$LOG_FILE" ]] || die "no log file at $LOG_FILE"
  if [[ $# -gt 0 ]]; then
    [[ "$1" =~ ^[0-9]+$ ]] || die "logs: N must be a number (got '$1')"
    tail -n "$1" "$LOG_FILE"
  else
    tail -n 100 -F "$LOG_FILE"
  fi
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
restart)
  cmd_stop
  cmd_start
  ;;
reload) cmd_reload ;;
check) cmd_check ;;
status) cmd_status ;;
logs)
  shift
  cmd_logs "$@"
  ;;
-h | --help | help) usage ;;
*)
  usage >&2
  exit 2
  ;;
esac
