// The cluster's network namespaces, made with iproute2 as a CNI bridge plugin would: one
// namespace for the cluster (a bridge for the pods, the node's address, kube-proxy's and the
// policy controller's nftables), one per pod (a veth into the bridge), and a veth from the host
// into the cluster namespace with routes for the pod and Service ranges, so that the supervisor,
// kubectl and tests on the host reach the cluster as a node does. Nothing leaves the machine.
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressPlan } from './addresses.ts';

const NETNS_DIR = '/run/netns';
/** Which process owns each cluster's namespaces (a pid file per cluster). */
const OWNER_DIR = '/run/vm-import';

async function ip(...args: string[]): Promise<void> {
  await execa('ip', args);
}

async function ignoring(fn: () => Promise<unknown>): Promise<void> {
  await fn().catch(() => undefined);
}

/** Writes a sysctl of a network namespace (/proc/sys/net is the namespace of the writer). */
async function netnsSysctl(netns: string, key: string, value: string): Promise<void> {
  await execa('nsenter', [
    `--net=${NETNS_DIR}/${netns}`,
    '--',
    'sh',
    '-c',
    `echo ${value} > /proc/sys/${key.replaceAll('.', '/')}`,
  ]);
}

export interface PodNetworkAttachment {
  ip: string;
  /** The pod's network namespace, for nsenter --net. */
  netnsPath: string;
}

export class ClusterNamespaces {
  readonly clusterNetns: string;
  /** The host (root namespace) end of the link into the cluster namespace. */
  readonly hostLink: string;

  constructor(readonly plan: AddressPlan) {
    this.clusterNetns = plan.namePrefix;
    this.hostLink = `${plan.namePrefix}h`;
  }

  get clusterNetnsPath(): string {
    return `${NETNS_DIR}/${this.clusterNetns}`;
  }

  /**
   * Removes what a previous run of this cluster left (a killed supervisor), then builds anew.
   * Refuses while another live local cluster owns the same addresses.
   */
  async create(): Promise<void> {
    const owner = await readFile(this.ownerFile, 'utf8').then(Number, () => undefined);
    if (owner && owner !== process.pid && processAlive(owner))
      throw new Error(
        `the pod network ${this.plan.podCidr} is in use by another local cluster (pid ${owner}); stop it or use another state directory`,
      );
    await this.destroy();
    await mkdir(OWNER_DIR, { recursive: true });
    await writeFile(this.ownerFile, String(process.pid));
    const p = this.plan;
    const c = this.clusterNetns;
    await ip('netns', 'add', c);
    await ip('-n', c, 'link', 'set', 'lo', 'up');
    await ip('link', 'add', this.hostLink, 'type', 'veth', 'peer', 'name', 'host0', 'netns', c);
    await ip('addr', 'add', `${p.hostAddress}/${p.linkPrefixLength}`, 'dev', this.hostLink);
    await ip('link', 'set', this.hostLink, 'up');
    await ip('-n', c, 'addr', 'add', `${p.nodeAddress}/${p.linkPrefixLength}`, 'dev', 'host0');
    await ip('-n', c, 'link', 'set', 'host0', 'up');
    await ip('-n', c, 'link', 'add', 'br0', 'type', 'bridge');
    await ip('-n', c, 'addr', 'add', `${p.gateway}/${p.podPrefixLength}`, 'dev', 'br0');
    await ip('-n', c, 'link', 'set', 'br0', 'up');
    await ip('route', 'add', p.podCidr, 'via', p.nodeAddress, 'dev', this.hostLink);
    await ip('route', 'add', p.serviceCidr, 'via', p.nodeAddress, 'dev', this.hostLink);
    await netnsSysctl(c, 'net.ipv4.ip_forward', '1');
    // Bridged pod-to-pod traffic through netfilter, as kube-proxy requires of a bridge CNI
    // (a Service's reply from a pod on the same bridge must pass the reverse NAT).
    await netnsSysctl(c, 'net.bridge.bridge-nf-call-iptables', '1');
  }

  /** A pod's own network namespace with a veth into the cluster bridge. */
  async attachPod(index: number, podIp: string): Promise<PodNetworkAttachment> {
    const p = this.plan;
    const netns = `${p.namePrefix}-${index}`;
    const peer = `p${index}`;
    await this.detachPod(index);
    await ip('netns', 'add', netns);
    await ip(
      '-n',
      this.clusterNetns,
      'link',
      'add',
      peer,
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      netns,
    );
    await ip('-n', this.clusterNetns, 'link', 'set', peer, 'master', 'br0', 'up');
    await ip('-n', netns, 'link', 'set', 'lo', 'up');
    await ip('-n', netns, 'addr', 'add', `${podIp}/${p.podPrefixLength}`, 'dev', 'eth0');
    await ip('-n', netns, 'link', 'set', 'eth0', 'up');
    await ip('-n', netns, 'route', 'add', 'default', 'via', p.gateway);
    // containerd's default for pods (CRI config enable_unprivileged_ports): any port may be bound
    // by a non-root process in the pod's own namespace.
    await netnsSysctl(netns, 'net.ipv4.ip_unprivileged_port_start', '0');
    return { ip: podIp, netnsPath: `${NETNS_DIR}/${netns}` };
  }

  async detachPod(index: number): Promise<void> {
    // Deleting the namespace deletes its end of the veth, and with it the bridge's end.
    await ignoring(() => ip('netns', 'delete', `${this.plan.namePrefix}-${index}`));
  }

  async destroy(): Promise<void> {
    const { stdout } = await execa('ip', ['netns', 'list']).catch(() => ({ stdout: '' }));
    for (const line of stdout.split('\n')) {
      const name = line.split(' ')[0] ?? '';
      if (name.startsWith(`${this.plan.namePrefix}-`)) await ignoring(() => ip('netns', 'delete', name));
    }
    await ignoring(() => ip('netns', 'delete', this.clusterNetns));
    await ignoring(() => ip('link', 'delete', this.hostLink));
    await rm(this.ownerFile, { force: true });
  }

  private get ownerFile(): string {
    return join(OWNER_DIR, `${this.clusterNetns}.pid`);
  }
}

/** Whether the network namespace of this name exists (another cluster's block). */
export function netnsExists(name: string): boolean {
  return existsSync(join(NETNS_DIR, name));
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
