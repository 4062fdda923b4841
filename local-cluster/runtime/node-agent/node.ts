// The local cluster's Node, as a kubelet registers and keeps it: the Node object with its
// capacity, addresses and Ready condition, and the heartbeat Lease in kube-node-lease that the
// node lifecycle controller of kube-controller-manager watches (a node whose Lease is not renewed
// within --node-monitor-grace-period, 40 s, becomes NotReady and its pods are evicted), and the
// kubelet API at the port the Node's status.daemonEndpoints names.
import { readFile } from 'node:fs/promises';
import type { Server } from 'node:https';
import { hostname } from 'node:os';
import type { IssuedCertificate } from '../../control-plane/certificates.ts';
import type { RuntimeContext } from '../context.ts';
import { isApiError, type KubeObject } from '../../../functions/shared/kube/client.ts';
import { startKubeletApi, type LogLookup } from './kubelet-api.ts';

const LEASE_SECONDS = 40;
const RENEW_MS = 10_000;

export interface NodeAgentOptions {
  /** The Node's certificate (system:node:<name>), which the kubelet API serves with. */
  certificate: IssuedCertificate;
  caCertPem: string;
  logs: { findLog(namespace: string, pod: string, container: string, previous: boolean): Promise<LogLookup> };
}

export class NodeAgent {
  private timer?: NodeJS.Timeout;
  private kubeletApi?: Server;
  private kubeletPort = 0;

  constructor(
    private readonly ctx: RuntimeContext,
    private readonly options: NodeAgentOptions,
  ) {}

  async start(): Promise<void> {
    const name = this.ctx.nodeName;
    const api = await startKubeletApi({
      nodeName: name,
      address: this.ctx.network.plan.hostAddress,
      certPem: await readFile(this.options.certificate.certPath, 'utf8'),
      keyPem: await readFile(this.options.certificate.keyPath, 'utf8'),
      caPem: this.options.caCertPem,
      findLog: (ns, pod, container, previous) => this.options.logs.findLog(ns, pod, container, previous),
      authorize: (user, groups) => this.mayProxy(user, groups),
      log: (message, fields) => this.ctx.log('kubelet-api', message, fields),
    });
    this.kubeletApi = api.server;
    this.kubeletPort = api.port;
    const { object: node } = await this.ctx.kube.ensure<KubeObject>({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name,
        labels: {
          'kubernetes.io/hostname': name,
          'kubernetes.io/os': 'linux',
          'kubernetes.io/arch': 'amd64',
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
    const node = await this.ctx.kube.find('v1', 'Node', undefined, this.ctx.nodeName);
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
      daemonEndpoints: { kubeletEndpoint: { Port: this.kubeletPort } },
      addresses: [
        { type: 'InternalIP', address: this.ctx.network.plan.hostAddress },
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
      const node = await this.ctx.kube.find('v1', 'Node', undefined, this.ctx.nodeName);
      if (!node) throw new Error(`Node ${this.ctx.nodeName} is gone`);
      try {
        await this.ctx.kube.replaceStatus({ ...node, apiVersion: 'v1', kind: 'Node', status });
        return;
      } catch (err) {
        // NodeRestriction compares the whole object before the version check: a Node read before
        // the controller-manager changed its taints is refused with 403, not 409. Re-read it.
        const stale =
          isApiError(err, 403) && /is not allowed to modify/.test(String((err as { body?: unknown }).body));
        if (!(isApiError(err, 409) || stale) || attempt >= 10) throw err;
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
    const existing = await this.ctx.kube.find('coordination.k8s.io/v1', 'Lease', 'kube-node-lease', name);
    try {
      if (!existing) await this.ctx.kube.create(lease);
      else await this.ctx.kube.replace({ ...existing, spec: lease.spec });
    } catch (err) {
      if (!isApiError(err, 409)) throw err;
    }
  }

  /** The kubelet's webhook authorizer: a SubjectAccessReview for get nodes/proxy on this node. */
  private async mayProxy(user: string, groups: string[]): Promise<boolean> {
    const review = (await this.ctx.kube.objects.create({
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user,
        groups,
        resourceAttributes: { verb: 'get', resource: 'nodes', subresource: 'proxy', name: this.ctx.nodeName },
      },
    } as KubeObject)) as KubeObject & { status?: { allowed?: boolean } };
    return review.status?.allowed === true;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.kubeletApi?.close();
    this.kubeletApi?.closeAllConnections();
  }
}
