/** What narrowing needs to know of a backend: the worker's Backend and the primary's view of a FleetBackend both tell it. */
export interface Narrowable {
  serves(model: string | null): boolean;
  isUp(nowMs: number): boolean;
  isHeld(nowMs: number): boolean;
}

/**
 * Panic mode: no backend that may serve the request is up, so all of them are tried rather than none. `fleet`:
 * no backend at all is up; `model`: others are, but none of those that serve the request's model.
 */
export type PanicScope = 'fleet' | 'model';

/**
 * The one narrowing of the fleet for a request, used by every worker's selection and by the primary's
 * queue: the backends that serve the model (with --unknown-model pass, every backend when none does), then
 * those that are up (all of them in panic mode, when none is), then those not tried yet and not held by
 * a Retry-After; a Retry-After does not turn into a refusal, and a lone backend is retried. Fills
 * `eligible` (every backend that may serve the model) and `candidates`; returns the panic scope, or null,
 * or 'none' when no backend serves the model.
 */
export function narrowCandidates<B extends Narrowable>(
  all: readonly B[],
  model: string | null,
  unknownModelPass: boolean,
  tried: readonly B[] | null,
  nowMs: number,
  eligible: B[],
  candidates: B[],
): PanicScope | null | 'none' {
  for (const backend of all) if (backend.serves(model)) eligible.push(backend);
  if (eligible.length === 0 && unknownModelPass) for (const backend of all) eligible.push(backend);
  if (eligible.length === 0) return 'none';
  let up = 0;
  for (const backend of eligible) if (backend.isUp(nowMs)) up++;
  let panic: PanicScope | null = null;
  if (up === 0) {
    panic = 'fleet';
    if (eligible.length < all.length) for (const backend of all) if (backend.isUp(nowMs)) panic = 'model';
  }
  // Written out as three passes, without closures: this runs for every attempt.
  for (const backend of eligible) {
    if ((panic !== null || backend.isUp(nowMs)) && !backend.isHeld(nowMs) && (tried === null || !tried.includes(backend)))
      candidates.push(backend);
  }
  if (candidates.length === 0)
    for (const backend of eligible)
      if ((panic !== null || backend.isUp(nowMs)) && (tried === null || !tried.includes(backend))) candidates.push(backend);
  if (candidates.length === 0) for (const backend of eligible) if (panic !== null || backend.isUp(nowMs)) candidates.push(backend);
  return panic;
}
