import { parseArgs } from 'node:util';

export interface BaselineArgs {
  backend: string;
  host: string;
  port: number;
  /** Connections to the backend (one undici Pool). */
  connections: number;
}

/** The command line both comparison proxies share: --backend URL [--port 0] [--host 127.0.0.1] [--connections 256]. */
export function parseBaselineArgs(): BaselineArgs {
  const { values } = parseArgs({
    options: {
      backend: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      connections: { type: 'string', default: '256' },
    },
  });
  if (values.backend === undefined) throw new Error('--backend URL is required');
  return { backend: values.backend, host: values.host, port: Number(values.port), connections: Number(values.connections) };
}
