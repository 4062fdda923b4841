// The files the kubelet manages for a pod (/etc/hosts, /etc/hostname, /etc/resolv.conf) and the
// image's /etc/passwd and /etc/group, written into the pod's directory for the sandbox to show.
import { chmod, chown, mkdir, writeFile } from 'node:fs/promises';
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
  /** The kubelet's clusterDNS: kube-dns's cluster IP. */
  dnsServer: string;
}

/** dnsPolicy ClusterFirst, as the kubelet writes it (pkg/kubelet/network/dns/dns.go). */
export function clusterFirstResolvConf(namespace: string, dnsServer: string): string {
  return `search ${namespace}.svc.cluster.local svc.cluster.local cluster.local\nnameserver ${dnsServer}\noptions ndots:5\n`;
}

export async function writePodFiles(input: PodFilesInput): Promise<PodRuntimeFiles> {
  const dir = join(input.podDir, 'etc');
  await mkdir(dir, { recursive: true });
  const { passwd, group } = etcFiles(input.image);
  const content: Record<keyof PodRuntimeFiles['etc'], string> = {
    passwd,
    group,
    hostname: `${input.hostname}\n`,
    hosts: `# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${input.podIp}\t${input.hostname}\n`,
    'resolv.conf': clusterFirstResolvConf(input.namespace, input.dnsServer),
  };
  const etc = {} as PodRuntimeFiles['etc'];
  for (const [name, text] of Object.entries(content) as [keyof PodRuntimeFiles['etc'], string][]) {
    const path = join(dir, name);
    await writeFile(path, text, { mode: 0o644 });
    etc[name] = path;
  }
  // A bwrap directory is root's: one the image's layer gives to another user is the pod's own
  // directory on the node, with that owner, shown at its path.
  const ownedDirectories: PodRuntimeFiles['ownedDirectories'] = [];
  for (const d of input.image.directories) {
    if (!d.owner) continue;
    const host = join(input.podDir, 'rootfs', d.path);
    await mkdir(host, { recursive: true });
    await chown(host, d.owner.uid, d.owner.gid);
    await chmod(host, d.mode);
    ownedDirectories.push({ host, path: d.path });
  }
  return { etc, hostname: input.hostname, ownedDirectories };
}
