// The node's network components, real ones built from their modules, run in the cluster's
// network namespace as a kubeadm node runs them (kube-proxy: a hostNetwork DaemonSet; here a
// child process of the supervisor with the same identity and configuration): kube-proxy in
// nftables mode for Services, and CoreDNS with kubeadm's Corefile for cluster DNS, behind the
// kube-dns Service at the kubelet's clusterDNS address.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import {
  startComponent,
  waitForComponent,
  type ComponentProcess,
} from '../../control-plane/component-process.ts';
import { componentBinary } from '../../control-plane/components.ts';
import type { ControlPlane } from '../../control-plane/control-plane.ts';
import type { Kube } from '../../../functions/shared/kube/client.ts';
import type { AddressPlan } from './addresses.ts';
import type { ClusterNamespaces } from './namespaces.ts';
import { ensureRoutedService, publishEndpoints, type RoutedPort } from './routed-service.ts';

export interface NodeNetworkOptions {
  plan: AddressPlan;
  namespaces: ClusterNamespaces;
  controlPlane: ControlPlane;
  kube: Kube;
  nodeName: string;
  /** Where configuration and kubeconfigs go. */
  dir: string;
  logs: string;
  log(message: string, fields?: Record<string, unknown>): void;
}

export interface NodeNetwork {
  processes: ComponentProcess[];
  stop(): Promise<void>;
}

const DNS_PORTS: RoutedPort[] = [
  { name: 'dns', port: 53, targetPort: 53, protocol: 'UDP' },
  { name: 'dns-tcp', port: 53, targetPort: 53, protocol: 'TCP' },
];
const COREDNS_READY_PORT = 8181;

/** kubeadm's default Corefile (cmd/kubeadm/app/phases/addons/dns/manifests.go), less `forward`: nothing upstream to forward to here. */
export function corefile(plan: AddressPlan, kubeconfigPath: string): string {
  return `.:53 {
    bind ${plan.nodeAddress}
    errors
    health ${plan.nodeAddress}:8080 {
       lameduck 5s
    }
    ready ${plan.nodeAddress}:${COREDNS_READY_PORT}
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       kubeconfig ${kubeconfigPath} local
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    cache 30
    loadbalance
}
`;
}

/** kube-proxy's configuration file (KubeProxyConfiguration, k8s.io/kube-proxy/config/v1alpha1). */
export function kubeProxyConfig(plan: AddressPlan, nodeName: string, kubeconfigPath: string): string {
  return stringify({
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig: kubeconfigPath },
    mode: 'nftables',
    clusterCIDR: plan.podCidr,
    hostnameOverride: nodeName,
    bindAddress: plan.nodeAddress,
    healthzBindAddress: `${plan.nodeAddress}:10256`,
    metricsBindAddress: `${plan.nodeAddress}:10249`,
    nodePortAddresses: [`${plan.nodeAddress}/32`],
    // nf_conntrack_max cannot be set inside a network namespace: leave the host's.
    conntrack: { maxPerCore: 0 },
  });
}

export async function startNodeNetwork(o: NodeNetworkOptions): Promise<NodeNetwork> {
  await mkdir(o.dir, { recursive: true });
  const inClusterNetns = (binary: string, args: string[]) => [
    `--net=${o.namespaces.clusterNetnsPath}`,
    '--',
    binary,
    ...args,
  ];
  const processes: ComponentProcess[] = [];
  const stop = async () => {
    for (const p of processes.reverse()) await p.stop(5_000);
  };
  try {
    // kube-proxy, as system:kube-proxy (bound to system:node-proxier by the bootstrap policy).
    const proxyKubeconfig = join(o.dir, 'kube-proxy.kubeconfig');
    const proxyCert = await o.controlPlane.clientCredentials('kube-proxy', 'system:kube-proxy');
    await writeFile(proxyKubeconfig, o.controlPlane.kubeconfigFor(proxyCert), { mode: 0o600 });
    const proxyConfig = join(o.dir, 'kube-proxy.yaml');
    await writeFile(proxyConfig, kubeProxyConfig(o.plan, o.nodeName, proxyKubeconfig));
    processes.push(
      startComponent(
        'kube-proxy',
        'nsenter',
        inClusterNetns(await componentBinary('kubernetes', 'kube-proxy'), [
          `--config=${proxyConfig}`,
          '--v=1',
        ]),
        join(o.logs, 'kube-proxy.log'),
      ),
    );

    // CoreDNS, as system:coredns (its ClusterRole is in the platform manifests, as kubeadm's).
    const dnsKubeconfig = join(o.dir, 'coredns.kubeconfig');
    const dnsCert = await o.controlPlane.clientCredentials('coredns', 'system:coredns');
    await writeFile(dnsKubeconfig, o.controlPlane.kubeconfigFor(dnsCert), { mode: 0o600 });
    const dnsConfig = join(o.dir, 'Corefile');
    await writeFile(dnsConfig, corefile(o.plan, dnsKubeconfig));
    processes.push(
      startComponent(
        'coredns',
        'nsenter',
        inClusterNetns(await componentBinary('coredns', 'coredns'), ['-conf', dnsConfig]),
        join(o.logs, 'coredns.log'),
      ),
    );
    await ensureRoutedService({ kube: o.kube }, 'kube-dns', 'kube-system', DNS_PORTS, {
      clusterIP: o.plan.dnsServiceIp,
    });
    await publishEndpoints({ kube: o.kube }, 'kube-dns', 'kube-system', DNS_PORTS, [o.plan.nodeAddress]);
    const answers = (url: string) => async () => (await fetch(url, { signal: AbortSignal.timeout(1000) })).ok;
    await waitForComponent(
      'CoreDNS',
      answers(`http://${o.plan.nodeAddress}:${COREDNS_READY_PORT}/ready`),
      processes,
      60_000,
    );
    await waitForComponent(
      'kube-proxy',
      answers(`http://${o.plan.nodeAddress}:10256/healthz`),
      processes,
      60_000,
    );
    o.log('node network ready', { dns: o.plan.dnsServiceIp, podCidr: o.plan.podCidr });
    return { processes, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
