import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { createMockBackend, DEFAULT_MOCK_HOST, DEFAULT_MOCK_MAX_TOKENS, DEFAULT_MOCK_MODEL } from './create-mock-backend.js';

const DEFAULT_CLI_PORT = 8000;
const MAX_PORT = 65_535;
// Exit codes as the proxy's: 2 for a bad command line, 1 for a failure to start.
const EXIT_USAGE = 2;
const EXIT_START_FAILED = 1;

const INTEGER_FLAGS = [
  'port',
  'ttft-ms',
  'token-delay-ms',
  'default-max-tokens',
  'health-delay-ms',
  'completion-status',
  'retry-after-sec',
  'prefix-cache-blocks',
  'prefill-base-ms',
  'prefill-ms-per-block',
  'prefill-slots',
  'max-num-seqs',
  'kv-cache-tokens',
] as const;

const argv = await yargs(hideBin(process.argv))
  .scriptName('mock-backend')
  .usage('$0 [options]\n\nSimulated OpenAI-compatible inference backend (vLLM wire format).')
  .options({
    host: { type: 'string', default: DEFAULT_MOCK_HOST, describe: 'Address to listen on' },
    'also-hosts': {
      type: 'string',
      describe: 'More addresses to take connections on, same port, comma-separated (one backend behind several URLs)',
    },
    port: { type: 'number', default: DEFAULT_CLI_PORT, describe: 'Port to listen on (0 picks a free port)' },
    'ttft-ms': { type: 'number', default: 0, describe: 'Time to first token, ms (a slow backend: 500)' },
    'token-delay-ms': { type: 'number', default: 0, describe: 'Delay between tokens, ms' },
    'default-max-tokens': {
      type: 'number',
      default: DEFAULT_MOCK_MAX_TOKENS,
      describe: 'Tokens generated when a request sets no max_tokens',
    },
    model: { type: 'string', describe: `Model served (default ${DEFAULT_MOCK_MODEL}); same as --models with one name` },
    models: { type: 'string', describe: 'Models served, comma-separated (a,b)' },
    'list-models': { type: 'boolean', default: true, describe: 'Serve GET /v1/models (--no-list-models: 404, model list unknown)' },
    'any-model': { type: 'boolean', default: false, describe: 'Answer any model name, as llama.cpp does' },
    health: { type: 'string', default: '200', describe: 'Status of GET /health, or no-answer (a probe timeout)' },
    'health-delay-ms': { type: 'number', default: 0, describe: 'Delay before GET /health answers, ms' },
    'completion-status': { type: 'number', describe: 'Answer every completion with this status (400-599) and an error body' },
    'retry-after-sec': { type: 'number', describe: 'Retry-After header, seconds, on --completion-status answers' },
    'prefix-cache-blocks': { type: 'number', describe: 'Turn the simulated prefix cache on, holding this many 256-byte blocks' },
    'prefill-base-ms': { type: 'number', default: 0, describe: 'Prefix cache on: prefill time with every block cached, ms' },
    'prefill-ms-per-block': { type: 'number', default: 0, describe: 'Prefix cache on: prefill time added per uncached block, ms' },
    'prefill-slots': { type: 'number', default: 0, describe: 'Prefix cache on: requests in prefill at once (0: no limit)' },
    'max-num-seqs': {
      type: 'number',
      default: 0,
      describe: 'Sequences running at once, as vLLM counts them; the rest wait in a queue (0: no limit)',
    },
    'kv-cache-tokens': {
      type: 'number',
      default: 0,
      describe: 'KV cache capacity in tokens; a sequence reserves prompt + max_tokens (0: 2048 per slot)',
    },
    'scheduling-policy': {
      type: 'string',
      default: 'fcfs',
      choices: ['fcfs', 'priority'],
      describe: "Queue order: fcfs, or priority (the request's priority field, lower first, as vLLM's)",
    },
  })
  .conflicts('model', 'models')
  .check((args) => {
    for (const name of INTEGER_FLAGS) {
      const value = args[name];
      if (value !== undefined && (!Number.isInteger(value) || value < 0)) throw new Error(`--${name} must be a non-negative integer`);
    }
    if (args.port > MAX_PORT) throw new Error(`--port must be at most ${MAX_PORT}`);
    if (args['default-max-tokens'] < 1) throw new Error('--default-max-tokens must be at least 1');
    if (args.health !== 'no-answer' && !/^[2-5]\d\d$/.test(args.health))
      throw new Error('--health must be a status (200-599) or no-answer');
    return true;
  })
  .strict()
  .help()
  .fail((message, err) => {
    process.stderr.write(`mock-backend: ${message ?? err?.message}\n`);
    process.exit(EXIT_USAGE);
  })
  .parseAsync();

const cacheBlocks = argv['prefix-cache-blocks'];
const options = {
  host: argv.host,
  alsoHosts: argv['also-hosts']?.split(',').map((host) => host.trim()) ?? [],
  port: argv.port,
  ttftMs: argv['ttft-ms'],
  tokenDelayMs: argv['token-delay-ms'],
  defaultMaxTokens: argv['default-max-tokens'],
  models: argv.models?.split(',').map((name) => name.trim()) ?? [argv.model ?? DEFAULT_MOCK_MODEL],
  listModels: argv['list-models'],
  anyModel: argv['any-model'],
  health: argv.health === 'no-answer' ? ('no-answer' as const) : Number(argv.health),
  healthDelayMs: argv['health-delay-ms'],
  completionStatus: argv['completion-status'],
  retryAfterSec: argv['retry-after-sec'],
  prefixCache:
    cacheBlocks === undefined
      ? undefined
      : { cacheBlocks, baseMs: argv['prefill-base-ms'], msPerBlock: argv['prefill-ms-per-block'], slots: argv['prefill-slots'] },
  maxNumSeqs: argv['max-num-seqs'],
  kvCacheTokens: argv['kv-cache-tokens'],
  schedulingPolicy: argv['scheduling-policy'] as 'fcfs' | 'priority',
};

const backend = await createMockBackend(options).catch((err: NodeJS.ErrnoException) => {
  // Without a system error code it is a control out of range (a TypeError naming it): a usage error.
  const usage = err.code === undefined;
  process.stderr.write(`mock-backend: ${usage ? err.message : `cannot listen on ${argv.host}:${argv.port}: ${err.code}`}\n`);
  process.exit(usage ? EXIT_USAGE : EXIT_START_FAILED);
});
process.stdout.write(`${JSON.stringify({ msg: 'mock backend listening', url: backend.url, pid: process.pid })}\n`);

const shutDown = (): void => {
  void backend.close().then(() => process.exit(0));
};
process.once('SIGINT', shutDown);
process.once('SIGTERM', shutDown);
