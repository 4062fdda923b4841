// Services (v1) for the local cluster (what kube-proxy does): a Service with a selector gets DNS
// names and a proxy per port on the cluster IP the API server allocated, to the ready pods it
// selects (targetPort by number or by container port name). Deployments are the real
// kube-controller-manager's.
import type { RuntimeContext } from '../context.ts';
import { KeyedQueue } from '../keyed-queue.ts';
import { type KubeObject, type ListWatchHandle } from '../../../functions/shared/kube/client.ts';
import type { Endpoint } from './service-proxy.ts';

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
  private readonly services = new Map<string, ServiceObject>();
  private readonly pods = new Map<string, KubeObject>();
  /** Keys `svc/<ns>/<name>`, each synced from its current state. */
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
      },
    );
    await Promise.all([this.svcWatch.ready, this.podWatch.ready]);
  }

  private async sync(key: string): Promise<void> {
    const [, ns, name] = key.split('/') as [string, string, string];
    const svc = this.services.get(`${ns}/${name}`);
    if (svc) await this.syncService(svc);
    else await this.ctx.network.removeService(name, ns);
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
    const ip = svc.spec?.clusterIP;
    if (!ip || ip === 'None') return; // headless: no proxy
    await this.ctx.network.setService(name, ns, ip, ports);
  }

  stop(): void {
    this.queue.stop();
    this.svcWatch?.stop();
    this.podWatch?.stop();
  }
}
