import { resolve } from 'node:path';
import { run } from '../../support/processes.js';

const VERSION_TIMEOUT_MS = 10_000;

/** A second Node binary (`npm run bench -- --node PATH`) that our proxy also runs under, side by side. */
export interface AltNode {
  path: string;
  /** `v24.22.3`. */
  version: string;
  /** The suffix of its targets' names: `node24` gives `proxy-1w-node24`. */
  tag: string;
}

/** Runs `PATH --version` once, so a wrong path fails the bench at the start with one line, not a target later. */
export async function checkAltNode(given: string): Promise<AltNode> {
  // The bench's children run from the repository root: a relative path means the caller's directory.
  const path = resolve(given);
  let version: string;
  try {
    version = (await run(path, ['--version'], {}, VERSION_TIMEOUT_MS)).stdout.trim();
  } catch (err) {
    throw new Error(
      `--node ${path}: it does not run (${err instanceof Error ? err.message : String(err)}); bench/README.md says how to get a Node 24 binary`,
    );
  }
  const major = /^v(\d+)\./.exec(version)?.[1];
  if (major === undefined) throw new Error(`--node ${path}: \`--version\` printed '${version}', not a Node version`);
  return { path, version, tag: `node${major}` };
}
