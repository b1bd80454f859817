import { lookup, Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';

export type ResolveAddresses = (host: string) => Promise<string[]>;

/**
 * The addresses of a host name, for --dns-refresh (a Kubernetes headless Service answers with one address
 * per pod): from `server` (host:port) when given, else through the system's resolver (getaddrinfo, so
 * /etc/hosts counts too). An IP literal resolves to itself. Sorted, so that an unchanged answer in another
 * order is no change. Throws when the name cannot be resolved at all.
 */
export function createNameResolver(server: string | null): ResolveAddresses {
  if (server === null) {
    return async (host) => {
      if (isIP(host) !== 0) return [host];
      const found = await lookup(host, { all: true, verbatim: true });
      return [...new Set(found.map((entry) => entry.address))].sort();
    };
  }
  const resolver = new Resolver({ timeout: 2_000, tries: 2 });
  resolver.setServers([server]);
  return async (host) => {
    if (isIP(host) !== 0) return [host];
    const [v4, v6] = await Promise.allSettled([resolver.resolve4(host), resolver.resolve6(host)]);
    const addresses = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
    if (addresses.length === 0) {
      const reason = v4.status === 'rejected' ? v4.reason : v6.status === 'rejected' ? v6.reason : new Error('no address');
      // A name that exists with no address records is a fleet of none, not a failure.
      if ((reason as { code?: string }).code === 'ENODATA') return [];
      throw reason;
    }
    return [...new Set(addresses)].sort();
  };
}
