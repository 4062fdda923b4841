// The pod network as the node agent and the supervisor's controllers see it: an address and a
// network namespace for each pod, and cluster DNS for the supervisor's own HTTP clients.
import type http from 'node:http';
import type https from 'node:https';
import { PodAddressPool, type AddressPlan } from './addresses.ts';
import { clusterHttpAgents } from './cluster-lookup.ts';
import type { ClusterNamespaces, PodNetworkAttachment } from './namespaces.ts';

export interface PodAttachment extends PodNetworkAttachment {
  index: number;
}

export class PodNetwork {
  private readonly pool: PodAddressPool;
  readonly agents: { httpAgent: http.Agent; httpsAgent: https.Agent };

  constructor(
    readonly plan: AddressPlan,
    private readonly namespaces: ClusterNamespaces,
  ) {
    this.pool = new PodAddressPool(plan);
    this.agents = clusterHttpAgents(plan.nodeAddress);
  }

  async attach(): Promise<PodAttachment> {
    const { ip, index } = this.pool.allocate();
    try {
      return { ...(await this.namespaces.attachPod(index, ip)), index };
    } catch (err) {
      this.pool.release(index);
      throw err;
    }
  }

  async detach(attachment: PodAttachment): Promise<void> {
    await this.namespaces.detachPod(attachment.index);
    this.pool.release(attachment.index);
  }
}
