import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/** The CPU model as /proc/cpuinfo names it (os.cpus() where it does not). */
export function cpuModel(): string {
  const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
  return match?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown';
}
