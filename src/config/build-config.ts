import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { VERSION } from '../shared/version.js';
import { usableCpuCount } from './cpu-count.js';
import { AUTO_IN_FLIGHT_PER_CONNECTION, ENV_PREFIX } from './defaults.js';
import { FLAGS, type FlagName } from './flags.js';
import { parseBytes, parseDurationMs, parseInteger, parseOnOff } from './parse-units.js';
import type { BackendConfig, Config } from './types.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** A configuration problem: `message` is the one line printed before exiting. */
export class ConfigError extends Error {
  readonly code = 'ERR_CONFIG';
}

function flagValue<T>(flag: FlagName, raw: unknown, parse: (raw: unknown) => T): T {
  if (Array.isArray(raw)) throw new ConfigError(`--${flag}: given more than once`);
  try {
    return parse(raw);
  } catch (err) {
    throw new ConfigError(`--${flag}: ${(err as Error).message}`);
  }
}

export function parseBackendUrl(raw: unknown): BackendConfig {
  let url: URL;
  try {
    url = new URL(String(raw));
  } catch {
    throw new Error(`expected an http:// or https:// URL, got ${JSON.stringify(String(raw))}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`expected http:// or https://, got ${url.protocol}`);
  if (url.search || url.hash || url.username || url.password) throw new Error('the URL must not carry a query, fragment or credentials');
  const basePath = url.pathname.replace(/\/+$/, '');
  return Object.freeze({ url: url.origin + basePath, origin: url.origin, basePath });
}

function parseStripPrefix(raw: unknown): string {
  const text = String(raw);
  if (text === '') return '';
  if (!text.startsWith('/') || text.endsWith('/') || /[?#\s]/.test(text)) {
    throw new Error(`expected '' or a path like /inference (leading slash, no trailing slash), got ${JSON.stringify(text)}`);
  }
  return text;
}

function parseHost(raw: unknown): string {
  const text = String(raw).trim();
  if (!text) throw new Error('must not be empty');
  return text;
}

function parseTimeout(raw: unknown): number {
  const ms = parseDurationMs(raw);
  if (ms > MAX_TIMEOUT_MS) throw new Error(`at most ${MAX_TIMEOUT_MS} ms`);
  return ms;
}

function parsePositiveTimeout(raw: unknown): number {
  const ms = parseTimeout(raw);
  if (ms === 0) throw new Error('must be greater than 0');
  return ms;
}

function parseLogLevel(raw: unknown): Config['logLevel'] {
  const text = String(raw).toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(text))
    throw new Error(`expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(text)}`);
  return text as Config['logLevel'];
}

function parseWorkers(raw: unknown): number {
  if (String(raw).trim() === 'auto') return usableCpuCount();
  return parseInteger(raw, 1, 1024);
}

/** Turns parsed flags into one frozen Config, or throws a ConfigError naming the first bad flag. */
export function configFromFlags(flags: Record<string, unknown>): Config {
  const v = <T>(flag: FlagName, parse: (raw: unknown) => T): T => flagValue(flag, flags[flag], parse);
  const metricsPortRaw = flags['metrics-port'];
  const config: Config = {
    backends: Object.freeze([v('backend-url', parseBackendUrl)]),
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
  };
  const maxInFlight = v('max-in-flight', (raw) => parseInteger(raw, 0, 10_000_000));
  const perWorker =
    maxInFlight === 0 ? AUTO_IN_FLIGHT_PER_CONNECTION * config.upstreamConnections : Math.ceil(maxInFlight / config.workers);
  return Object.freeze({ ...config, maxInFlightPerWorker: perWorker });
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

const camelCase = (name: string): string => name.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());

/** yargs lists an unknown --foo-bar twice (foo-bar, fooBar); keep the spelling the user typed. */
function oneLine(message: string): string {
  const first = message.split('\n')[0] ?? message;
  const unknown = /^(Unknown arguments?): (.*)$/.exec(first);
  if (!unknown) return first;
  const names = (unknown[2] as string).split(', ');
  const echoes = new Set(names.filter((name) => name.includes('-')).map(camelCase));
  return `${unknown[1]}: ${names.filter((name) => !echoes.has(name)).join(', ')}`;
}

/** Flags that may stand alone (`--access-log` means on). */
const VALUELESS_OK = new Set<string>(['access-log', 'inject-usage', 'help', 'version']);

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

export type ParseResult = { kind: 'config'; config: Config } | { kind: 'exit'; code: number; output: string };

/**
 * Parses argv plus INFERENCE_PROXY_* environment variables (a flag wins over its variable).
 * Never exits: the caller prints `output` and exits, so this stays testable.
 */
export async function buildConfig(argv: readonly string[]): Promise<ParseResult> {
  const missing = missingValue(argv);
  if (missing !== null) return { kind: 'exit', code: 2, output: `inference-proxy: ${missing}` };
  let output = '';
  let failure: string | null = null;
  const parser = yargs([...argv])
    .scriptName('inference-proxy')
    .usage('$0 [options]\n\nA cluster-mode reverse proxy for OpenAI-compatible LLM inference servers.')
    .options(FLAGS)
    .env(ENV_PREFIX)
    .epilogue(
      `Every flag can also be set as an environment variable: ${ENV_PREFIX}_ and the flag name in capitals with _ for -, e.g. ${ENV_PREFIX}_BACKEND_URL. Durations are milliseconds unless suffixed (s, m); sizes are bytes unless suffixed (kb, mb).`,
    )
    .strict()
    .version(VERSION)
    .help()
    .wrap(110)
    .exitProcess(false)
    .fail((msg, err) => {
      failure = msg ?? err?.message ?? 'invalid arguments';
    });
  const flags = await parser.parseAsync([...argv], {}, (_err, _argv, out) => {
    output = out;
  });
  if (failure !== null) return { kind: 'exit', code: 2, output: `inference-proxy: ${oneLine(failure)}` };
  if (flags.help || flags.version) return { kind: 'exit', code: 0, output };
  try {
    return { kind: 'config', config: configFromFlags(flags as Record<string, unknown>) };
  } catch (err) {
    if (err instanceof ConfigError) return { kind: 'exit', code: 2, output: `inference-proxy: ${err.message}` };
    throw err;
  }
}
