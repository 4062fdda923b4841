// The local pod network: pod addresses, Service cluster IPs, the cluster DNS table (a JSON
// file read by every process through the preload) and the Service proxy.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { AddressPool, serviceDnsNames, type ClusterCidrs, type HostsTable } from './names.ts';
import { installClusterDns } from './resolver.ts';
import { ServiceProxy, type Endpoint } from './service-proxy.ts';

export interface ServicePortTarget {
  port: number;
  endpoints: Endpoint[];
}

export class ClusterNetwork {
  private readonly pods: AddressPool;
  private readonly clusterIps = new Map<string, string>();
  private readonly exposedPorts = new Map<string, Set<number>>();
  readonly proxy = new ServiceProxy();

  constructor(
    readonly hostsFile: string,
    readonly cidrs: ClusterCidrs,
  ) {
    this.pods = new AddressPool(cidrs.pods);
    this.writeHosts();
    installClusterDns(hostsFile);
  }

  allocatePodIp(): string {
    return this.pods.allocate();
  }

  releasePodIp(ip: string): void {
    this.pods.release(ip);
  }

  clusterIpOf(name: string, namespace: string): string | undefined {
    return this.clusterIps.get(`${namespace}/${name}`);
  }

  /** The Service cluster-IP range the API server allocates from. */
  get serviceCidr(): string {
    return `${this.cidrs.services.join('.')}.0.0/16`;
  }

  /**
   * Publishes a Service at the cluster IP the API server gave it: DNS names and one proxied
   * listener per port.
   */
  async setService(name: string, namespace: string, ip: string, ports: ServicePortTarget[]): Promise<void> {
    const key = `${namespace}/${name}`;
    const known = this.clusterIps.get(key);
    if (known !== ip) {
      if (known) await this.proxy.unexpose(known);
      this.exposedPorts.delete(key);
      this.clusterIps.set(key, ip);
      this.writeHosts();
    }
    const previous = this.exposedPorts.get(key) ?? new Set<number>();
    const now = new Set(ports.map((p) => p.port));
    for (const p of previous) if (!now.has(p)) await this.proxy.unexpose(ip, p);
    for (const p of ports) await this.proxy.expose(ip, p.port, p.endpoints);
    this.exposedPorts.set(key, now);
  }

  async removeService(name: string, namespace: string): Promise<void> {
    const key = `${namespace}/${name}`;
    const ip = this.clusterIps.get(key);
    if (!ip) return;
    this.clusterIps.delete(key);
    this.exposedPorts.delete(key);
    this.writeHosts();
    await this.proxy.unexpose(ip);
  }

  table(): HostsTable {
    const t: HostsTable = {};
    for (const [key, ip] of this.clusterIps) {
      const [ns, name] = key.split('/') as [string, string];
      for (const n of serviceDnsNames(name, ns)) t[n] = ip;
    }
    return t;
  }

  private writeHosts(): void {
    mkdirSync(dirname(this.hostsFile), { recursive: true });
    const tmp = `${this.hostsFile}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.table(), null, 1));
    renameSync(tmp, this.hostsFile);
  }

  async close(): Promise<void> {
    await this.proxy.close();
  }
}
