import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../support/processes.js';

/** The installed version of a dependency, for the report ('?' when it cannot be read). */
export function pkgVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}
