// The files the kubelet manages for a pod (/etc/hosts, /etc/hostname, /etc/resolv.conf) and the
// image's /etc/passwd and /etc/group, written into the pod's directory for the sandbox to show.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { etcFiles, type ImageRootfs } from './images.ts';
import type { PodRuntimeFiles } from './sandbox.ts';

export interface PodFilesInput {
  /** The pod's directory on the node. */
  podDir: string;
  hostname: string;
  namespace: string;
  podIp: string;
  image: ImageRootfs;
  projectRoot: string;
  /** The directory of the cluster DNS table (until the pod network has a DNS server). */
  clusterDnsDir: string;
}

const DNS_PRELOAD_DIR = '/run/vm-import-local/dns';
const CLUSTER_DNS_DIR = '/run/vm-import-local/cluster-dns';

/**
 * The environment that loads the local cluster's network preload into a pod's Node processes
 * (cluster DNS names, servers bound to the pod's address) until the pod network exists.
 */
export function localNetworkEnv(podIp: string): Record<string, string> {
  return {
    // Node 22 strips the preload's types itself: no transpiler (and no /tmp) needed for it.
    NODE_OPTIONS: `--import ${DNS_PRELOAD_DIR}/preload.ts`,
    VMI_CLUSTER_DNS_HOSTS: `${CLUSTER_DNS_DIR}/hosts.json`,
    VMI_POD_IP: podIp,
  };
}

export async function writePodFiles(input: PodFilesInput): Promise<PodRuntimeFiles> {
  const dir = join(input.podDir, 'etc');
  await mkdir(dir, { recursive: true });
  const hostResolv = await readFile('/etc/resolv.conf', 'utf8').catch(() => '');
  const nameservers = hostResolv.split('\n').filter((l) => /^\s*nameserver\s/.test(l));
  const { passwd, group } = etcFiles(input.image);
  const content: Record<keyof PodRuntimeFiles['etc'], string> = {
    passwd,
    group,
    hostname: `${input.hostname}\n`,
    hosts: `# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${input.podIp}\t${input.hostname}\n`,
    'resolv.conf': `search ${input.namespace}.svc.cluster.local svc.cluster.local cluster.local\n${nameservers.join('\n')}\noptions ndots:5\n`,
  };
  const etc = {} as PodRuntimeFiles['etc'];
  for (const [name, text] of Object.entries(content) as [keyof PodRuntimeFiles['etc'], string][]) {
    const path = join(dir, name);
    await writeFile(path, text, { mode: 0o644 });
    etc[name] = path;
  }
  return {
    etc,
    hostname: input.hostname,
    // The local cluster's network until the pod network exists (issue "step 3 of 4"): cluster
    // DNS names and per-pod addresses through a preload the kubelet env names (NODE_OPTIONS).
    extraBinds: [
      { host: join(input.projectRoot, 'local-cluster', 'runtime', 'dns'), path: DNS_PRELOAD_DIR },
      { host: input.clusterDnsDir, path: CLUSTER_DNS_DIR },
    ],
  };
}
