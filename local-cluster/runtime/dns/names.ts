// Cluster DNS names: "<svc>.<ns>.svc" and "<svc>.<ns>.svc.cluster.local" (and the short
// "<svc>.<ns>" form pods can use through their search path), mapped to a per-Service loopback
// address. Pod addresses come from 127.1.0.0/16 and Service cluster IPs from 127.2.0.0/16:
// Linux routes all of 127.0.0.0/8 to the loopback interface, so each one can be bound
// separately and two pods can both listen on port 8080.

/**
 * Each cluster takes a random pair of /16s (pods, Services) in 127.16.0.0–127.215.255.255, so that
 * two local clusters on one machine (tests, a bench next to `npm start`) never share an address.
 */
export interface ClusterCidrs {
  pods: readonly [number, number];
  services: readonly [number, number];
}

export function clusterCidrPrefixes(random: () => number = Math.random): ClusterCidrs {
  const base = 16 + 2 * Math.floor(random() * 100);
  return { pods: [127, base], services: [127, base + 1] };
}

export type HostsTable = Record<string, string>;

/** The (lower-case) names under which a Service is reachable. */
export function serviceDnsNames(name: string, namespace: string): string[] {
  const base = `${name}.${namespace}`.toLowerCase();
  return [`${base}.svc`, `${base}.svc.cluster.local`];
}

/** Looks a host up in the cluster table; undefined when it is not a cluster name. */
export function resolveClusterName(table: HostsTable, host: string): string | undefined {
  const h = host.toLowerCase().replace(/\.$/, '');
  return table[h];
}

export function isClusterName(host: string): boolean {
  return /\.svc(\.cluster\.local)?\.?$/i.test(host);
}

/** Allocates addresses from a /16 under 127.0.0.0/8, skipping .0 and .255 host parts. */
export class AddressPool {
  private next = 1;
  private readonly free: number[] = [];
  // A plain field, not a parameter property: pods load this file with Node's type stripping.
  private readonly prefix: readonly [number, number];
  constructor(prefix: readonly [number, number]) {
    this.prefix = prefix;
  }

  allocate(): string {
    const n = this.free.shift() ?? this.next++;
    if (n > 254 * 256) throw new Error('address pool exhausted');
    const hi = Math.floor(n / 254);
    const lo = (n % 254) + 1;
    return `${this.prefix[0]}.${this.prefix[1]}.${hi}.${lo}`;
  }

  release(address: string): void {
    const parts = address.split('.').map(Number);
    if (parts[0] !== this.prefix[0] || parts[1] !== this.prefix[1]) return;
    this.free.push(parts[2]! * 254 + parts[3]! - 1);
  }
}
