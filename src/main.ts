import cluster from 'node:cluster';
import { buildConfig } from './config/build-config.js';
import { checkConfig } from './config/check-config.js';
import { WORKER_CONFIG_ENV } from './config/defaults.js';
import type { Config } from './config/types.js';
import { runPrimary } from './primary/run-primary.js';
import { runWorker } from './worker/run-worker.js';

/**
 * Exit code for a configuration the proxy refuses, or cannot start with on this machine (a port it cannot
 * bind): ecosystem.config.js lists it in stop_exit_codes.
 */
const EXIT_CONFIG = 2;

async function main(): Promise<void> {
  if (cluster.isWorker) {
    const json = process.env[WORKER_CONFIG_ENV];
    if (json === undefined) {
      // pm2 cluster mode makes pm2 the cluster primary: our supervisor and metrics merge could not run.
      console.error(
        "inference-proxy: started as a cluster worker of another primary (pm2 cluster mode?); run it with exec_mode 'fork' and instances 1, as ecosystem.config.js does",
      );
      process.exit(EXIT_CONFIG);
    }
    runWorker(Object.freeze(JSON.parse(json)) as Config);
    return;
  }
  const parsed = await buildConfig(process.argv.slice(2));
  if (parsed.kind === 'exit') {
    (parsed.code === 0 ? console.log : console.error)(parsed.output);
    process.exit(parsed.code);
  }
  if (parsed.checkOnly) {
    const report = await checkConfig(parsed.config, parsed.warnings);
    for (const warning of report.warnings) console.error(`inference-proxy: warning: ${warning}`);
    (report.code === 0 ? console.log : console.error)(report.line);
    process.exit(report.code);
  }
  await runPrimary(parsed.config, process.argv.slice(2), parsed.warnings);
}

main().catch((err: unknown) => {
  if ((err as { code?: unknown }).code === 'ERR_START') {
    console.error(`inference-proxy: ${(err as Error).message}`);
    process.exit(EXIT_CONFIG);
  }
  console.error('inference-proxy: fatal:', err);
  process.exit(1);
});
