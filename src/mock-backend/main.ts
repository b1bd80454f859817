import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { createMockBackend, DEFAULT_MOCK_HOST, DEFAULT_MOCK_MAX_TOKENS, DEFAULT_MOCK_MODEL } from './create-mock-backend.js';

const DEFAULT_CLI_PORT = 8000;
const MAX_PORT = 65_535;

const argv = await yargs(hideBin(process.argv))
  .scriptName('mock-backend')
  .usage('$0 [options]\n\nSimulated OpenAI-compatible inference backend (vLLM wire format).')
  .options({
    host: { type: 'string', default: DEFAULT_MOCK_HOST, describe: 'Address to listen on' },
    port: { type: 'number', default: DEFAULT_CLI_PORT, describe: 'Port to listen on (0 picks a free port)' },
    'ttft-ms': { type: 'number', default: 0, describe: 'Time to first token, ms' },
    'token-delay-ms': { type: 'number', default: 0, describe: 'Delay between tokens, ms' },
    'default-max-tokens': {
      type: 'number',
      default: DEFAULT_MOCK_MAX_TOKENS,
      describe: 'Tokens generated when a request sets no max_tokens',
    },
    model: { type: 'string', default: DEFAULT_MOCK_MODEL, describe: 'Model name listed by /v1/models' },
  })
  .check((args) => {
    for (const name of ['port', 'ttft-ms', 'token-delay-ms', 'default-max-tokens'] as const) {
      const value = args[name];
      if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a non-negative integer`);
    }
    if (args.port > MAX_PORT) throw new Error(`--port must be at most ${MAX_PORT}`);
    if (args['default-max-tokens'] < 1) throw new Error('--default-max-tokens must be at least 1');
    return true;
  })
  .strict()
  .help()
  .parseAsync();

const backend = await createMockBackend({
  host: argv.host,
  port: argv.port,
  ttftMs: argv['ttft-ms'],
  tokenDelayMs: argv['token-delay-ms'],
  defaultMaxTokens: argv['default-max-tokens'],
  model: argv.model,
});
process.stdout.write(`${JSON.stringify({ msg: 'mock backend listening', url: backend.url })}\n`);

const shutDown = (): void => {
  void backend.close().then(() => process.exit(0));
};
process.once('SIGINT', shutDown);
process.once('SIGTERM', shutDown);
