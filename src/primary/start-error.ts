/**
 * A problem that stops the proxy from starting on this machine, beyond what config validation can see (a
 * port another process holds, an address the machine does not have): `message` is the one line printed
 * before exiting with code 2, naming the flag, the address and the port.
 */
export class StartError extends Error {
  readonly code = 'ERR_START';
}

const REASONS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'not an address of this machine',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'the host name could not be resolved now',
};

/** Errors about the address rather than the port: they name the host flag. */
const HOST_PROBLEMS = new Set(['EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN']);

/** `--port: cannot listen on 0.0.0.0:8001: address already in use (EADDRINUSE)`, for the proxy's port or the metrics port. */
export function listenProblem(flags: { host: string; port: string }, host: string, port: number, code: string): string {
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const reason = REASONS[code] ?? 'cannot bind';
  return `--${HOST_PROBLEMS.has(code) ? flags.host : flags.port}: cannot listen on ${address}: ${reason} (${code})`;
}
