import { parseArgs } from 'node:util';

export interface BaselineArgs {
  backend: string;
  host: string;
  port: number;
  /** Connections to the backend (one undici Pool per process). */
  connections: number;
  /** simple-proxy only: 1 = one process; more = that many node:cluster workers sharing the port. */
  workers: number;
}

/** The command line the comparison proxies share: --backend URL [--port 0] [--host 127.0.0.1] [--connections 256] [--workers 1]. */
export function parseBaselineArgs(): BaselineArgs {
  const { values } = parseArgs({
    options: {
      backend: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      connections: { type: 'string', default: '256' },
      workers: { type: 'string', default: '1' },
    },
  });
  if (values.backend === undefined) throw new Error('--backend URL is required');
  const workers = Number(values.workers);
  if (!Number.isInteger(workers) || workers < 1) throw new Error(`--workers must be a positive integer, got '${values.workers}'`);
  return {
    backend: values.backend,
    host: values.host,
    port: Number(values.port),
    connections: Number(values.connections),
    workers,
  };
}
