// Services (v1) and Deployments (apps/v1) for the local cluster. A Service with a selector
// gets a cluster IP on the loopback network, DNS names and a proxy per port to the running
// pods it selects (targetPort by number or by container port name). A Deployment keeps
// `replicas` pods of its template running (no ReplicaSet layer; rollouts replace all pods).
import { createHash, randomBytes } from 'node:crypto';
import type { RuntimeContext } from '../context.ts';
import { KeyedQueue } from '../keyed-queue.ts';
import { isApiError, type KubeObject, type ListWatchHandle } from '../kube.ts';
import type { Endpoint } from '../dns/service-proxy.ts';

type ServiceObject = KubeObject & {
  spec?: {
    selector?: Record<string, string>;
    clusterIP?: string;
    ports?: { name?: string; port: number; targetPort?: number | string; protocol?: string }[];
  };
};

/** Running, with an address, and its Ready condition True (readiness probe passed): gets traffic. */
export function isPodReady(p: KubeObject): boolean {
  const st = p.status as
    { phase?: string; podIP?: string; conditions?: { type: string; status: string }[] } | undefined;
  return (
    st?.phase === 'Running' && !!st.podIP && st.conditions?.find((c) => c.type === 'Ready')?.status === 'True'
  );
}

function matches(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

export function resolveTargetPort(
  pod: KubeObject,
  targetPort: number | string | undefined,
  port: number,
): number {
  if (targetPort === undefined) return port;
  if (typeof targetPort === 'number') return targetPort;
  if (/^\d+$/.test(targetPort)) return Number(targetPort);
  const containers = ((pod.spec as { containers?: { ports?: { name?: string; containerPort: number }[] }[] })
    ?.containers ?? []) as { ports?: { name?: string; containerPort: number }[] }[];
  for (const c of containers)
    for (const p of c.ports ?? []) if (p.name === targetPort) return p.containerPort;
  return port;
}

export class ServiceController {
  private svcWatch?: ListWatchHandle;
  private podWatch?: ListWatchHandle;
  private depWatch?: ListWatchHandle;
  private readonly services = new Map<string, ServiceObject>();
  private readonly pods = new Map<string, KubeObject>();
  /** Keys `svc/<ns>/<name>` and `deploy/<ns>/<name>`, each synced from its current state. */
  private readonly queue = new KeyedQueue(
    (key) => this.sync(key),
    (key, err) => {
      this.ctx.log('services', 'sync failed', { key, error: String(err) });
      setTimeout(() => this.queue.add(key), 1000);
    },
  );

  constructor(private readonly ctx: RuntimeContext) {}

  async start(): Promise<void> {
    this.svcWatch = this.ctx.kube.listWatch(
      { apiVersion: 'v1', kind: 'Service', emitListed: true },
      (type, svc) => {
        const key = `${svc.metadata!.namespace}/${svc.metadata!.name}`;
        if (type === 'DELETED') this.services.delete(key);
        else this.services.set(key, svc as ServiceObject);
        this.queue.add(`svc/${key}`);
      },
    );
    this.podWatch = this.ctx.kube.listWatch(
      { apiVersion: 'v1', kind: 'Pod', emitListed: true },
      (type, pod) => {
        const key = `${pod.metadata!.namespace}/${pod.metadata!.name}`;
        if (type === 'DELETED') this.pods.delete(key);
        else this.pods.set(key, pod);
        for (const [svcKey, svc] of this.services) {
          if (svc.metadata?.namespace === pod.metadata?.namespace) this.queue.add(`svc/${svcKey}`);
        }
        const owner = pod.metadata?.ownerReferences?.find((o) => o.kind === 'Deployment');
        if (owner && type !== 'ADDED') this.queue.add(`deploy/${pod.metadata!.namespace}/${owner.name}`);
      },
    );
    this.depWatch = this.ctx.kube.listWatch(
      { apiVersion: 'apps/v1', kind: 'Deployment', emitListed: true },
      (type, dep) => {
        if (type !== 'DELETED') this.queue.add(`deploy/${dep.metadata!.namespace}/${dep.metadata!.name}`);
      },
    );
    await Promise.all([this.svcWatch.ready, this.podWatch.ready, this.depWatch.ready]);
  }

  private async sync(key: string): Promise<void> {
    const [kind, ns, name] = key.split('/') as [string, string, string];
    if (kind === 'svc') {
      const svc = this.services.get(`${ns}/${name}`);
      if (svc) await this.syncService(svc);
      else await this.ctx.network.removeService(name, ns);
      return;
    }
    const dep = await this.ctx.kube.get('apps/v1', 'Deployment', name, ns);
    if (dep && !dep.metadata?.deletionTimestamp) await this.syncDeployment(dep);
  }

  private async syncService(svc: ServiceObject): Promise<void> {
    const ns = svc.metadata!.namespace ?? 'default';
    const name = svc.metadata!.name!;
    const selector = svc.spec?.selector;
    if (!selector || Object.keys(selector).length === 0) return; // no selector: managed elsewhere (functions)
    const ready = [...this.pods.values()].filter(
      (p) =>
        p.metadata?.namespace === ns &&
        !p.metadata?.deletionTimestamp &&
        isPodReady(p) &&
        matches(selector, p.metadata?.labels),
    );
    const ports = (svc.spec?.ports ?? []).map((sp) => ({
      port: sp.port,
      endpoints: ready.map((p): Endpoint => ({
        address: (p.status as { podIP: string }).podIP,
        port: resolveTargetPort(p, sp.targetPort, sp.port),
      })),
    }));
    const ip = await this.ctx.network.setService(name, ns, ports);
    if (svc.spec?.clusterIP !== ip && svc.spec?.clusterIP !== 'None') {
      try {
        await this.ctx.kube.mergePatch({
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name, namespace: ns },
          spec: { clusterIP: ip, clusterIPs: [ip] },
        });
      } catch (err) {
        // A real API server keeps clusterIP immutable; the address still works without it.
        if (!isApiError(err, 422) && !isApiError(err, 400)) throw err;
      }
    }
  }

  private async syncDeployment(dep: KubeObject): Promise<void> {
    const ns = dep.metadata!.namespace ?? 'default';
    const name = dep.metadata!.name!;
    const spec = (dep.spec ?? {}) as {
      replicas?: number;
      selector?: { matchLabels?: Record<string, string> };
      template?: { metadata?: { labels?: Record<string, string> }; spec?: unknown };
    };
    const replicas = spec.replicas ?? 1;
    const hash = createHash('sha256')
      .update(JSON.stringify(spec.template ?? {}))
      .digest('hex')
      .slice(0, 10);
    const { items } = await this.ctx.kube.list('v1', 'Pod', ns);
    const owned = items.filter((p) => p.metadata?.ownerReferences?.some((o) => o.uid === dep.metadata!.uid));
    const current = owned.filter(
      (p) => p.metadata?.labels?.['pod-template-hash'] === hash && !p.metadata?.deletionTimestamp,
    );
    for (const p of owned) {
      if (p.metadata?.labels?.['pod-template-hash'] !== hash)
        await this.ctx.kube.delete({ ...p, apiVersion: 'v1', kind: 'Pod' });
    }
    for (let i = current.length; i < replicas; i++) {
      await this.ctx.kube.create({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: `${name}-${hash}-${randomBytes(3).toString('hex').slice(0, 5)}`,
          namespace: ns,
          labels: { ...spec.template?.metadata?.labels, 'pod-template-hash': hash },
          ownerReferences: [
            {
              apiVersion: 'apps/v1',
              kind: 'Deployment',
              name,
              uid: dep.metadata!.uid!,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        spec: spec.template?.spec as never,
      });
    }
    for (const p of current.slice(replicas))
      await this.ctx.kube.delete({ ...p, apiVersion: 'v1', kind: 'Pod' });
    const running = current.filter(isPodReady).length;
    const status = {
      observedGeneration: dep.metadata?.generation,
      replicas,
      readyReplicas: running,
      availableReplicas: running,
      updatedReplicas: current.length,
    };
    if (JSON.stringify(dep.status ?? {}) !== JSON.stringify(status)) {
      try {
        await this.ctx.kube.replaceStatus({ ...dep, apiVersion: 'apps/v1', kind: 'Deployment', status });
      } catch (err) {
        if (!isApiError(err, 409)) throw err;
      }
    }
  }

  stop(): void {
    this.queue.stop();
    this.svcWatch?.stop();
    this.podWatch?.stop();
    this.depWatch?.stop();
  }
}
