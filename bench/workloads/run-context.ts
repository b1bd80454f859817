import type { BenchArgs } from '../bench-args.js';
import type { Nginx } from '../targets/nginx.js';
import type { AltNode } from '../targets/node-binary.js';
import type { Server } from '../targets/start-child.js';

/** What every workload runner of one `npm run bench` shares. */
export interface RunContext {
  args: BenchArgs;
  backend: Server;
  /** Logs of the backend and the proxies; removed at the end. */
  workDir: string;
  nginx: Nginx | null;
  /** `--node PATH`: the Node targets also run on it; null without the flag. */
  altNode: AltNode | null;
  /** `n/total` for the progress lines, counting up. */
  progress: () => string;
  /** Exit code on SIGTERM of every process, by its name, for the report. */
  exitCodes: Record<string, number | null>;
}
