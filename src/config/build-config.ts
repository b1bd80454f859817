import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import yargs, { type Options } from 'yargs';
import { ROUTING_POLICIES } from '../routing/policy-registry.js';
import { VERSION } from '../shared/version.js';
import { keysFromList } from '../tenants/key-list.js';
import { backendsFromList, backendsFromUrls, duplicateUrl } from './backend-list.js';
import { type ConfigFile, readConfigFile } from './config-file.js';
import { AUTO_IN_FLIGHT_PER_CONNECTION, AUTO_IN_FLIGHT_PER_WORKER, ENV_PREFIX } from './defaults.js';
import {
  MAX_PREFIX_BYTES,
  parseDnsServer,
  parseHeaderName,
  parseHealthPath,
  parseHost,
  parseLoadFactor,
  parseLogLevel,
  parseOneOf,
  parsePositiveTimeout,
  parseShare,
  parseStripPrefix,
  parseTimeout,
  parseWorkers,
} from './flag-values.js';
import { COMMAND_FLAGS, FLAGS, type FlagName } from './flags.js';
import { parseBytes, parseInteger, parseOnOff } from './parse-units.js';
import { AFFINITY_BOUNDS, type AffinityBound, type BackendConfig, type Config } from './types.js';
import { envNameOf, onCommandLine, unknownArguments } from './unknown-arguments.js';

export { parseBackendUrl } from './backend-list.js';

/** A configuration problem: `message` is the one line printed before exiting. */
export class ConfigError extends Error {
  readonly code = 'ERR_CONFIG';
}

/** Where a flag's value came from, for the one line that names it when it is wrong. */
export interface FlagOrigins {
  /** The --config file; null when there is none. */
  readonly file: ConfigFile | null;
  /** Flags whose value was taken from the file (not given on the command line or in the environment). */
  readonly fromFile: ReadonlySet<string>;
  /** Flags whose value was taken from their INFERENCE_PROXY_* variable. */
  readonly fromEnv: ReadonlySet<string>;
}

/** The values --routing accepts: the registered policies. */
const ROUTING_POLICY_NAMES = ROUTING_POLICIES.map((policy) => policy.name);

const NO_FILE: FlagOrigins = { file: null, fromFile: new Set(), fromEnv: new Set() };

/** How the one line names a flag: as the file's key, the environment variable or the command line's --flag that gave it. */
function flagLabel(flag: string, origins: FlagOrigins): string {
  if (origins.file !== null && origins.fromFile.has(flag)) return `${origins.file.path}: ${flag}`;
  return origins.fromEnv.has(flag) ? envNameOf(flag) : `--${flag}`;
}

function flagValue<T>(label: string, raw: unknown, parse: (raw: unknown) => T): T {
  if (Array.isArray(raw)) throw new ConfigError(`${label}: given more than once`);
  try {
    return parse(raw);
  } catch (err) {
    throw new ConfigError(`${label}: ${(err as Error).message}`);
  }
}

/** The backend list: from --backend-url (command line or environment) if given, else the file's, else the default. */
function backendList(flags: Record<string, unknown>, origins: FlagOrigins): BackendConfig[] {
  const file = origins.file;
  const fromFileList = origins.fromFile.has('backends') && file !== null;
  const label = fromFileList ? (file as ConfigFile).path : flagLabel('backend-url', origins);
  let backends: BackendConfig[];
  try {
    if (fromFileList) backends = backendsFromList((file as ConfigFile).backends);
    else {
      const raw = flags['backend-url'];
      backends = backendsFromUrls(Array.isArray(raw) ? raw : [raw]);
    }
  } catch (err) {
    throw new ConfigError(`${label}: ${(err as Error).message}`);
  }
  const duplicate = duplicateUrl(backends);
  if (duplicate !== null) throw new ConfigError(`${label}: duplicate backend ${duplicate}`);
  return backends;
}

/** Turns merged flag values into one frozen Config, or throws a ConfigError naming the first bad flag. */
export function configFromFlags(flags: Record<string, unknown>, origins: FlagOrigins = NO_FILE): Config {
  const v = <T>(flag: FlagName, parse: (raw: unknown) => T): T => flagValue(flagLabel(flag, origins), flags[flag], parse);
  const count = (min: number, max: number) => (raw: unknown) => parseInteger(raw, min, max);
  const metricsPortRaw = flags['metrics-port'];
  const config: Config = {
    backends: Object.freeze(backendList(flags, origins)),
    host: v('host', parseHost),
    port: v('port', (raw) => parseInteger(raw, 0, 65535)),
    workers: v('workers', parseWorkers),
    clusterScheduling: v('cluster-scheduling', (raw) => {
      const text = String(raw).toLowerCase();
      if (text !== 'none' && text !== 'rr') throw new Error(`expected none or rr, got ${JSON.stringify(String(raw))}`);
      return text;
    }),
    stripPrefix: v('strip-prefix', parseStripPrefix),
    logLevel: v('log-level', parseLogLevel),
    accessLog: v('access-log', parseOnOff),
    injectUsage: v('inject-usage', parseOnOff),
    serverTiming: v('server-timing', parseOnOff),
    holdStreamHead: v('hold-stream-head', parseOnOff),
    upstreamConnections: v('upstream-connections', (raw) => parseInteger(raw, 1, 65535)),
    connectTimeoutMs: v('connect-timeout', parsePositiveTimeout),
    headersTimeoutMs: v('headers-timeout', parseTimeout),
    bodyTimeoutMs: v('body-timeout', parseTimeout),
    bodyLimitBytes: v('body-limit', (raw) => {
      const bytes = parseBytes(raw);
      if (bytes < 1) throw new Error('must be at least 1 byte');
      return bytes;
    }),
    drainTimeoutMs: v('drain-timeout', parseTimeout),
    keepAliveTimeoutMs: v('keep-alive-timeout', parsePositiveTimeout),
    maxInFlightPerWorker: 0,
    clientHeaderTimeoutMs: v('client-header-timeout', parsePositiveTimeout),
    apiKeyDigests: Object.freeze(apiKeyDigests(flags['api-key'], flags['api-key-file'])),
    metricsPort: metricsPortRaw === undefined || metricsPortRaw === '' ? null : v('metrics-port', (raw) => parseInteger(raw, 0, 65535)),
    metricsHost: v('metrics-host', parseHost),
    routing: v('routing', parseOneOf(ROUTING_POLICY_NAMES)),
    healthPath: v('health-path', parseHealthPath),
    healthIntervalMs: v('health-interval', parseTimeout),
    healthTimeoutMs: v('health-timeout', parsePositiveTimeout),
    unhealthyThreshold: v('unhealthy-threshold', count(1, 100)),
    healthyThreshold: v('healthy-threshold', count(1, 100)),
    maxFails: v('max-fails', count(0, 1000)),
    failTimeoutMs: v('fail-timeout', parsePositiveTimeout),
    slowStartMs: v('slow-start', parseTimeout),
    retries: v('retries', count(0, 10)),
    discoveryIntervalMs: v('discovery-interval', parseTimeout),
    unknownModel: v('unknown-model', parseOneOf(['reject', 'pass'] as const)),
    sessionHeader: v('session-header', parseHeaderName),
    affinityLoadFactor: v('affinity-load-factor', parseLoadFactor),
    prefixBytes: v('prefix-bytes', (raw) => parseInteger(raw, 16, MAX_PREFIX_BYTES)),
    loadIntervalMs: v('load-interval', parseTimeout),
    saturationWaiting: v('saturation-waiting', count(0, 1_000_000)),
    saturationKv: v('saturation-kv', parseShare),
    queue: v('queue', parseOnOff),
    queueTimeoutMs: v('queue-timeout', parsePositiveTimeout),
    enginePriority: v('engine-priority', parseOnOff),
    dnsRefreshMs: v('dns-refresh', parseTimeout),
    dnsServer: v('dns-server', parseDnsServer),
    removedSeriesGraceMs: v('removed-series-grace', parseTimeout),
    affinityBound: v('affinity-bound', parseOneOf<AffinityBound>(AFFINITY_BOUNDS)),
    dashboardSampleMs: v('dashboard-sample-interval', parsePositiveTimeout),
    ...tenantKeys(origins),
    defaultMaxTokens: v('default-max-tokens', count(1, 10_000_000)),
    allowAdminRoutes: v('allow-admin-routes', parseOnOff),
    redisUrl: v('redis-url', parseRedisUrl),
    redisTimeoutMs: v('redis-timeout', parsePositiveTimeout),
    redisFailure: v('redis-failure', parseOneOf(['open', 'closed'] as const)),
  };
  if (config.metricsPort !== null && config.metricsPort !== 0 && config.metricsPort === config.port) {
    const label = flagLabel('metrics-port', origins);
    throw new ConfigError(`${label}: ${config.port} is the proxy's --port too; give the metrics server a port of its own`);
  }
  const maxInFlight = v('max-in-flight', (raw) => parseInteger(raw, 0, 10_000_000));
  const perWorker =
    maxInFlight === 0
      ? Math.max(AUTO_IN_FLIGHT_PER_WORKER, AUTO_IN_FLIGHT_PER_CONNECTION * config.upstreamConnections)
      : Math.ceil(maxInFlight / config.workers);
  return Object.freeze({ ...config, maxInFlightPerWorker: perWorker });
}

/** The config file's `keys:`; their key_env variables are read from this process's environment. */
function tenantKeys(origins: FlagOrigins): Pick<Config, 'keys' | 'keyWarnings'> {
  const file = origins.file;
  if (file === null || file.keys === undefined) return { keys: Object.freeze([]), keyWarnings: Object.freeze([]) };
  try {
    const list = keysFromList(file.keys, process.env);
    return { keys: list.keys, keyWarnings: list.warnings };
  } catch (err) {
    throw new ConfigError(`${file.path}: ${(err as Error).message}`);
  }
}

function parseRedisUrl(raw: unknown): string | null {
  const text = String(raw ?? '').trim();
  if (text === '') return null;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error('expected a redis:// or rediss:// URL');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new Error(`expected redis:// or rediss://, got ${url.protocol}`);
  return text;
}

const API_KEY_PATTERN = /^[\x21-\x7e]{1,512}$/;

/** Keys from --api-key (repeatable) and --api-key-file, kept only as SHA-256 digests. */
function apiKeyDigests(flagKeys: unknown, file: unknown): string[] {
  const keys: string[] = [];
  const given = flagKeys === undefined ? [] : Array.isArray(flagKeys) ? flagKeys : [flagKeys];
  for (const key of given) {
    if (!API_KEY_PATTERN.test(String(key))) throw new ConfigError('--api-key: a key is 1 to 512 printable ASCII characters without spaces');
    keys.push(String(key));
  }
  if (file !== undefined && file !== '') {
    if (Array.isArray(file)) throw new ConfigError('--api-key-file: given more than once');
    let text: string;
    try {
      text = readFileSync(String(file), 'utf8');
    } catch (err) {
      throw new ConfigError(`--api-key-file: cannot read ${String(file)} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    const lines = text
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
    if (lines.length === 0) throw new ConfigError(`--api-key-file: ${String(file)} holds no key`);
    for (const line of lines) {
      if (!API_KEY_PATTERN.test(line)) throw new ConfigError(`--api-key-file: a key is 1 to 512 printable ASCII characters without spaces`);
      keys.push(line);
    }
  }
  return [...new Set(keys)].map((key) => createHash('sha256').update(key).digest('hex'));
}

/** yargs' failure as one line; an unknown argument named as the user wrote it (see unknownArguments). */
function oneLine(message: string, argv: readonly string[]): string {
  const first = message.split('\n')[0] ?? message;
  const unknown = /^Unknown arguments?: (.*)$/.exec(first);
  return unknown ? unknownArguments((unknown[1] as string).split(', '), argv, process.env) : first;
}

/** Flags that may stand alone (`--access-log` means on). */
const VALUELESS_OK = new Set<string>(['access-log', 'inject-usage', 'server-timing', 'allow-admin-routes', 'help', 'version']);

/**
 * yargs silently applies the default when a string flag has no value (`--port $PORT` with PORT unset);
 * we refuse that instead.
 */
function missingValue(argv: readonly string[]): string | null {
  for (let i = 0; i < argv.length; i++) {
    const match = /^--([a-z][a-z-]*)$/.exec(argv[i] as string);
    if (!match || VALUELESS_OK.has(match[1] as string) || !((match[1] as string) in FLAGS)) continue;
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) return `--${match[1]}: needs a value`;
  }
  return null;
}

/**
 * A config, with the one-line warnings about what it accepted but probably does not mean, and whether the
 * command line asked only to check it (--check-config); or an exit.
 */
export type ParseResult =
  | { kind: 'config'; config: Config; warnings: readonly string[]; checkOnly: boolean }
  | { kind: 'exit'; code: number; output: string };

/** Not a configuration value: a mode of the command line (never from the environment or the file). */
const CHECK_CONFIG = 'check-config';

/** A backend whose `models:` list is empty serves no model by name: accepted, but almost surely a mistake. */
function configWarnings(config: Config, file: ConfigFile | null): string[] {
  const where = file === null ? '' : `${file.path}: `;
  const backends = config.backends
    .filter((backend) => backend.models !== null && backend.models.length === 0)
    .map(
      (backend) =>
        `${where}backend ${backend.url}: models: [] lists no model, so no request that names a model goes to it (leave models: out to read its GET /v1/models)`,
    );
  return [...backends, ...config.keyWarnings.map((warning) => `${where}${warning}`)];
}

/**
 * The flags as yargs declares them, without their defaults: a flag yargs reports is one the command line
 * or the environment gave, so the config file can fill in the rest before the defaults do. --help still
 * shows each default.
 */
const YARGS_OPTIONS = Object.fromEntries(Object.entries(FLAGS).map(([name, flag]) => [name, yargsOption(flag)]));

/**
 * A declaration as yargs takes it: the docs-only fields (`unit`, `docs`) and the backticks that mark code for
 * the docs left out, the default only described.
 */
function yargsOption(flag: { type: string; describe: string; default?: string; hidden?: boolean }): Options {
  const option: Options = { type: flag.type as 'string' | 'boolean', describe: flag.describe.replaceAll('`', '') };
  if (flag.default !== undefined) option.defaultDescription = JSON.stringify(flag.default);
  if (flag.hidden === true) option.hidden = true;
  return option;
}

/** Command line over environment (yargs), then the --config file, then the defaults. */
function mergeSources(
  given: Record<string, unknown>,
  file: ConfigFile | null,
  argv: readonly string[],
): { flags: Record<string, unknown>; origins: FlagOrigins } {
  const flags: Record<string, unknown> = {};
  const fromFile = new Set<string>();
  const fromEnv = new Set<string>();
  for (const [name, flag] of Object.entries(FLAGS)) {
    if (given[name] !== undefined) {
      flags[name] = given[name];
      if (!onCommandLine(name, argv)) fromEnv.add(name);
    } else if (file?.flags[name] !== undefined) {
      flags[name] = file.flags[name];
      fromFile.add(name);
    } else if ('default' in flag) flags[name] = flag.default;
  }
  // Backends given on the command line or in the environment replace the file's list.
  if (given['backend-url'] === undefined && file?.backends !== undefined) fromFile.add('backends');
  return { flags, origins: { file, fromFile, fromEnv } };
}

/**
 * With a file, the default backend never stands in for a list the file lacks: an empty or truncated file
 * (a deploy tool caught mid-write) would otherwise send all traffic to localhost:8000. Checked after every
 * value, so that a file with a bad value is blamed for that first.
 */
function requireBackends(given: Record<string, unknown>, file: ConfigFile | null): void {
  if (file === null || given['backend-url'] !== undefined || file.backends !== undefined || file.flags['backend-url'] !== undefined) return;
  throw new ConfigError(`${file.path}: no backends: list them under backends: (or backend-url:) in the file, or give --backend-url`);
}

/**
 * Parses argv, INFERENCE_PROXY_* environment variables and the --config file: command line, then
 * environment, then file, then defaults. Never exits: the caller prints `output` and exits, so this stays
 * testable, and a reload can call it again to re-read the file.
 */
export async function buildConfig(argv: readonly string[]): Promise<ParseResult> {
  const missing = missingValue(argv);
  if (missing !== null) return { kind: 'exit', code: 2, output: `inference-proxy: ${missing}` };
  let output = '';
  let failure: string | null = null;
  const parser = yargs([...argv])
    .scriptName('inference-proxy')
    .usage('$0 [options]\n\nA cluster-mode reverse proxy for OpenAI-compatible LLM inference servers.')
    .options(YARGS_OPTIONS)
    .option(CHECK_CONFIG, yargsOption(COMMAND_FLAGS[CHECK_CONFIG]))
    .env(ENV_PREFIX)
    .epilogue(
      `Every flag can also be set as an environment variable: ${ENV_PREFIX}_ and the flag name in capitals with _ for -, e.g. ${ENV_PREFIX}_BACKEND_URL, or as a key of the --config file. Precedence: command line, environment, file, defaults. Durations are milliseconds unless suffixed (s, m); sizes are bytes unless suffixed (kb, mb).`,
    )
    .strict()
    .version('version', COMMAND_FLAGS.version.describe, VERSION)
    .help('help', COMMAND_FLAGS.help.describe)
    .wrap(110)
    .exitProcess(false)
    .fail((msg, err) => {
      failure = msg ?? err?.message ?? 'invalid arguments';
    });
  const given = await parser.parseAsync([...argv], {}, (_err, _argv, out) => {
    output = out;
  });
  if (failure !== null) return { kind: 'exit', code: 2, output: `inference-proxy: ${oneLine(failure, argv)}` };
  if (given.help || given.version) return { kind: 'exit', code: 0, output };
  const checkOnly = onCommandLine(CHECK_CONFIG, argv) && given[CHECK_CONFIG] === true;
  if (process.env[envNameOf(CHECK_CONFIG)] !== undefined) {
    // From the environment it would turn a container or a service into a check that exits at once.
    return { kind: 'exit', code: 2, output: `inference-proxy: ${envNameOf(CHECK_CONFIG)}: --${CHECK_CONFIG} is a command-line flag only` };
  }
  try {
    const configPath = given.config;
    if (Array.isArray(configPath)) throw new ConfigError('--config: given more than once');
    let file: ConfigFile | null = null;
    if (typeof configPath === 'string' && configPath !== '') {
      try {
        file = readConfigFile(configPath);
      } catch (err) {
        throw new ConfigError((err as Error).message);
      }
    }
    const { flags, origins } = mergeSources(given as Record<string, unknown>, file, argv);
    const config = configFromFlags(flags, origins);
    requireBackends(given as Record<string, unknown>, file);
    return { kind: 'config', config, warnings: configWarnings(config, file), checkOnly };
  } catch (err) {
    if (err instanceof ConfigError) return { kind: 'exit', code: 2, output: `inference-proxy: ${err.message}` };
    throw err;
  }
}
