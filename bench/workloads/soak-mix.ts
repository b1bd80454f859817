import { FAULT_KINDS } from './soak-faults.js';
import type { Kind } from './soak-kind.js';
import { ORDINARY_KINDS } from './soak-requests.js';

/** Every kind, in the order of the report's table; the order also fixes which kind a seed's numbers pick. */
export const SOAK_KINDS: readonly Kind[] = [...ORDINARY_KINDS, ...FAULT_KINDS];
const TOTAL_WEIGHT = SOAK_KINDS.reduce((sum, kind) => sum + kind.weight, 0);

/** One request in this many goes over a fresh connection (accept, close) instead of the shared pool. */
export const FRESH_CONNECTION_EVERY = 10;

/** A kind, drawn by weight. */
export function pickKind(random: () => number): Kind {
  let r = random() * TOTAL_WEIGHT;
  for (const kind of SOAK_KINDS) {
    r -= kind.weight;
    if (r < 0) return kind;
  }
  return SOAK_KINDS[SOAK_KINDS.length - 1] as Kind;
}
