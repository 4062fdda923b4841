// The local cluster's Node, as a kubelet registers and keeps it: the Node object with its
// capacity, addresses and Ready condition, and the heartbeat Lease in kube-node-lease that the
// node lifecycle controller of kube-controller-manager watches (a node whose Lease is not renewed
// within --node-monitor-grace-period, 40 s, becomes NotReady and its pods are evicted).
import { hostname } from 'node:os';
import type { RuntimeContext } from '../context.ts';
import { isApiError, type KubeObject } from '../kube.ts';

const LEASE_SECONDS = 40;
const RENEW_MS = 10_000;

export class NodeAgent {
  private timer?: NodeJS.Timeout;

  constructor(private readonly ctx: RuntimeContext) {}

  async start(): Promise<void> {
    const name = this.ctx.nodeName;
    const node = await this.ctx.kube.ensure<KubeObject>({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name,
        labels: {
          'kubernetes.io/hostname': name,
          'kubernetes.io/os': 'linux',
          'kubernetes.io/arch': 'amd64',
          'node-role.kubernetes.io/control-plane': '',
        },
      },
    });
    await this.writeStatus();
    await this.renewLease(node);
    this.timer = setInterval(() => {
      void this.heartbeat().catch((err: unknown) =>
        this.ctx.log('node', 'heartbeat failed', { error: String(err) }),
      );
    }, RENEW_MS);
  }

  private async heartbeat(): Promise<void> {
    const node = await this.ctx.kube.get('v1', 'Node', this.ctx.nodeName);
    if (!node) return this.start();
    await this.renewLease(node);
  }

  private async writeStatus(): Promise<void> {
    const now = new Date().toISOString();
    const condition = (type: string, status: string, reason: string, message: string) => ({
      type,
      status,
      reason,
      message,
      lastHeartbeatTime: now,
      lastTransitionTime: now,
    });
    const resources = { cpu: '64', memory: '256Gi', pods: '1000', 'ephemeral-storage': '1Ti' };
    const status = {
      capacity: resources,
      allocatable: resources,
      addresses: [
        { type: 'InternalIP', address: '127.0.0.1' },
        { type: 'Hostname', address: this.ctx.nodeName },
      ],
      conditions: [
        condition(
          'MemoryPressure',
          'False',
          'KubeletHasSufficientMemory',
          'node agent has sufficient memory',
        ),
        condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'node agent has no disk pressure'),
        condition('PIDPressure', 'False', 'KubeletHasSufficientPID', 'node agent has sufficient PID'),
        condition('Ready', 'True', 'KubeletReady', 'vm-import local node agent is posting ready status'),
      ],
      nodeInfo: {
        machineID: '',
        systemUUID: '',
        bootID: '',
        kernelVersion: '',
        osImage: `vm-import local node (${hostname()})`,
        containerRuntimeVersion: 'vm-import-local://1',
        kubeletVersion: 'vm-import-local',
        kubeProxyVersion: '',
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
    };
    // kube-controller-manager writes the Node too (taints, annotations): retry on conflicts.
    for (let attempt = 0; ; attempt++) {
      const node = await this.ctx.kube.get('v1', 'Node', this.ctx.nodeName);
      if (!node) throw new Error(`Node ${this.ctx.nodeName} is gone`);
      try {
        await this.ctx.kube.replaceStatus({ ...node, apiVersion: 'v1', kind: 'Node', status });
        return;
      } catch (err) {
        if (!isApiError(err, 409) || attempt >= 10) throw err;
      }
    }
  }

  private async renewLease(node: KubeObject): Promise<void> {
    const name = this.ctx.nodeName;
    const renewTime = new Date().toISOString().replace('Z', '000Z');
    const lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name,
        namespace: 'kube-node-lease',
        ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name, uid: node.metadata!.uid! }],
      },
      spec: { holderIdentity: name, leaseDurationSeconds: LEASE_SECONDS, renewTime },
    };
    const existing = await this.ctx.kube.get('coordination.k8s.io/v1', 'Lease', name, 'kube-node-lease');
    try {
      if (!existing) await this.ctx.kube.create(lease);
      else await this.ctx.kube.replace({ ...existing, spec: lease.spec });
    } catch (err) {
      if (!isApiError(err, 409)) throw err;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
