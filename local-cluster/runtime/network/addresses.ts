// The local cluster's address plan. Each cluster takes 10.<b>.0.0/16 for its node and pods and
// 10.<b+1>.0.0/16 for Services, with <b> picked at random per state directory, so that two local
// clusters on one machine (tests, a bench next to `npm start`) never share a route.
//
//   10.<b>.0.0/20      pod CIDR; 10.<b>.0.1 is the bridge in the cluster's network namespace
//   10.<b>.255.1/30    the host's end of the link into the cluster's namespace: the supervisor's
//                      own servers (API server, simulators, fault proxies) listen here
//   10.<b>.255.2/30    the cluster namespace's end: the node's address (kube-proxy, CoreDNS)
//   10.<b+1>.0.0/16    Service cluster IPs; .0.1 the `kubernetes` Service, .0.10 kube-dns

export interface ClusterAddressing {
  /** The second octet of the cluster's /16 (even, 16–214). */
  block: number;
}

/** A random block that `inUse` does not report taken (another cluster on this machine). */
export function chooseAddressing(
  inUse: (plan: AddressPlan) => boolean = () => false,
  random: () => number = Math.random,
): ClusterAddressing {
  for (let attempt = 0; attempt < 50; attempt++) {
    const addressing = { block: 16 + 2 * Math.floor(random() * 100) };
    if (!inUse(addressPlan(addressing))) return addressing;
  }
  throw new Error('no free address block for the pod network (100 local clusters running?)');
}

export interface AddressPlan extends ClusterAddressing {
  podCidr: string;
  podPrefixLength: number;
  gateway: string;
  serviceCidr: string;
  /** The host's address on the link to the cluster namespace. */
  hostAddress: string;
  /** The cluster namespace's address on that link: the node's address. */
  nodeAddress: string;
  linkPrefixLength: number;
  /** kube-dns's cluster IP (the kubelet's clusterDNS). */
  dnsServiceIp: string;
  /** The `kubernetes` Service's cluster IP. */
  apiServiceIp: string;
  /** Name prefix of the cluster's network namespaces and host link (≤ 8 characters). */
  namePrefix: string;
}

export function addressPlan({ block }: ClusterAddressing): AddressPlan {
  if (!Number.isInteger(block) || block < 1 || block > 254) throw new Error(`bad address block ${block}`);
  return {
    block,
    podCidr: `10.${block}.0.0/20`,
    podPrefixLength: 20,
    gateway: `10.${block}.0.1`,
    serviceCidr: `10.${block + 1}.0.0/16`,
    hostAddress: `10.${block}.255.1`,
    nodeAddress: `10.${block}.255.2`,
    linkPrefixLength: 30,
    dnsServiceIp: `10.${block + 1}.0.10`,
    apiServiceIp: `10.${block + 1}.0.1`,
    namePrefix: `vmi${block}`,
  };
}

/**
 * Hands out pod addresses from the pod CIDR (after the gateway) round-robin, as the host-local IPAM
 * plugin does (containernetworking/plugins, plugins/ipam/host-local/backend/allocator: the search
 * starts after the last reserved address): a released address comes back only after every other
 * one was handed out. Handing it out again at once lets the bridge's neighbour entry for it (the
 * old pod's MAC, kept REACHABLE for 15-45 s) send the new pod's traffic nowhere: a disk server that
 * got the address its import's export pod had just released failed its readiness probe for 29 s.
 */
export class PodAddressPool {
  private static readonly FIRST = 2;
  private static readonly LAST = 16 * 256 - 2;
  private last = PodAddressPool.FIRST - 1;
  private readonly used = new Set<number>();
  private readonly block: number;
  constructor(plan: ClusterAddressing) {
    this.block = plan.block;
  }

  /** An address and its index (the index names the pod's network namespace and veth). */
  allocate(): { ip: string; index: number } {
    const { FIRST, LAST } = PodAddressPool;
    const size = LAST - FIRST + 1;
    for (let step = 1; step <= size; step++) {
      const index = FIRST + ((this.last - FIRST + step) % size);
      if (this.used.has(index)) continue;
      this.used.add(index);
      this.last = index;
      return { ip: `10.${this.block}.${Math.floor(index / 256)}.${index % 256}`, index };
    }
    throw new Error('pod address pool exhausted');
  }

  release(index: number): void {
    this.used.delete(index);
  }
}
