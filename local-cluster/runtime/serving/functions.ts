// Knative Serving for the local cluster: each serving.knative.dev/v1 Service gets one Pod built
// from its revision template (as a Deployment would; scale-to-zero is not simulated), with
// Knative's PORT / K_SERVICE / K_CONFIGURATION / K_REVISION environment, its log in
// .local/logs/<function>.log (the functions.vm-import.harvesterhci.io/name label, else the
// Service name), and the Service's URL http://<name>.<ns>.svc.cluster.local served through the
// cluster network once the pod answers its readiness probe. With fault injection on, the address
// routes to a fault proxy in front of the pod (fault-proxy.ts), where Serving's activator would be.
import { createHash } from 'node:crypto';
import type { RuntimeContext } from '../context.ts';
import { isApiError, type KubeObject, type ListWatchHandle } from '../../../functions/shared/kube/client.ts';
import type { Container } from '../node-agent/container-spec.ts';
import { LOG_NAME_ANNOTATION } from '../node-agent/pods.ts';
import { ensureRoutedService, publishEndpoints } from '../network/routed-service.ts';
import { startFaultProxy, type FaultProxy } from './fault-proxy.ts';
import { FaultInjector, type FaultOptions } from './faults.ts';

export const FUNCTION_NAME_LABEL = 'functions.vm-import.harvesterhci.io/name';
const SERVICE_LABEL = 'serving.knative.dev/service';
const DEFAULT_PORT = 8080;

type KnativeService = KubeObject & {
  spec?: {
    template?: {
      metadata?: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
      spec?: { containers?: Container[]; serviceAccountName?: string; [k: string]: unknown };
    };
  };
};

interface FunctionState {
  revision: string;
  podName?: string;
  ready: boolean;
  probing: boolean;
}

export function revisionHash(svc: KnativeService): string {
  return createHash('sha256')
    .update(JSON.stringify(svc.spec?.template ?? {}))
    .digest('hex')
    .slice(0, 8);
}

export class FunctionController {
  private ksvcWatch?: ListWatchHandle;
  private podWatch?: ListWatchHandle;
  private readonly state = new Map<string, FunctionState>();
  private serial: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly proxies = new Map<string, Promise<FaultProxy>>();

  constructor(
    private readonly ctx: RuntimeContext,
    private readonly faults: FaultOptions = {},
  ) {}

  async start(): Promise<void> {
    this.ksvcWatch = this.ctx.kube.listWatch(
      { apiVersion: 'serving.knative.dev/v1', kind: 'Service', emitListed: true },
      (type, svc) => this.run(() => this.onService(type, svc as KnativeService)),
    );
    this.podWatch = this.ctx.kube.listWatch(
      { apiVersion: 'v1', kind: 'Pod', labelSelector: SERVICE_LABEL, emitListed: false },
      (type, pod) => this.run(() => this.onPod(type, pod)),
    );
    await Promise.all([this.ksvcWatch.ready, this.podWatch.ready]);
  }

  private run(fn: () => Promise<void>): void {
    this.serial = this.serial
      .then(fn)
      .catch((err: unknown) => this.ctx.log('functions', 'failed', { error: String(err) }));
  }

  /** Resolves once every function known so far is ready (or the timeout passes). */
  async waitReady(timeoutMs: number): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.serial;
      const notReady = [...this.state.entries()].filter(([, s]) => !s.ready).map(([k]) => k);
      if (notReady.length === 0 || Date.now() > deadline) return notReady;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  private async onService(type: string, svc: KnativeService): Promise<void> {
    const ns = svc.metadata!.namespace ?? 'default';
    const name = svc.metadata!.name!;
    const key = `${ns}/${name}`;
    if (type === 'DELETED') {
      this.state.delete(key);
      // its Service (and that Service's EndpointSlice) go through their ownerReferences
      return; // its pod is garbage-collected through the ownerReference
    }
    const revision = revisionHash(svc);
    const st = this.state.get(key);
    if (st && st.revision === revision) return;
    this.state.set(key, { revision, ready: false, probing: false });
    const { items } = await this.ctx.kube.listVersioned('v1', 'Pod', ns, `${SERVICE_LABEL}=${name}`);
    for (const p of items) {
      if (p.metadata?.labels?.['serving.knative.dev/revisionHash'] !== revision) {
        await this.ctx.kube.delete({ ...p, apiVersion: 'v1', kind: 'Pod' });
      }
    }
    const existing = items.find((p) => p.metadata?.labels?.['serving.knative.dev/revisionHash'] === revision);
    if (existing) {
      this.state.get(key)!.podName = existing.metadata!.name;
      await this.onPod('MODIFIED', existing);
      return;
    }
    await this.createPod(svc, revision);
  }

  private async createPod(svc: KnativeService, revision: string): Promise<void> {
    const ns = svc.metadata!.namespace ?? 'default';
    const name = svc.metadata!.name!;
    const template = svc.spec?.template ?? {};
    const containers = (template.spec?.containers ?? []).map((c, i) => {
      if (i > 0) return c;
      const port = c.ports?.[0]?.containerPort ?? DEFAULT_PORT;
      const knativeEnv = [
        { name: 'PORT', value: String(port) },
        { name: 'K_SERVICE', value: name },
        { name: 'K_CONFIGURATION', value: name },
        { name: 'K_REVISION', value: `${name}-${revision}` },
      ];
      return { ...c, env: [...knativeEnv, ...(c.env ?? [])] };
    });
    const functionName = svc.metadata?.labels?.[FUNCTION_NAME_LABEL] ?? name;
    const podName = `${name}-${revision}-deployment`;
    this.state.get(`${ns}/${name}`)!.podName = podName;
    try {
      await this.ctx.kube.create({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: podName,
          namespace: ns,
          labels: {
            ...template.metadata?.labels,
            [SERVICE_LABEL]: name,
            'serving.knative.dev/configuration': name,
            'serving.knative.dev/revision': `${name}-${revision}`,
            'serving.knative.dev/revisionHash': revision,
          },
          annotations: { ...template.metadata?.annotations, [LOG_NAME_ANNOTATION]: functionName },
          ownerReferences: [
            {
              apiVersion: 'serving.knative.dev/v1',
              kind: 'Service',
              name,
              uid: svc.metadata!.uid!,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        spec: { ...template.spec, containers, restartPolicy: 'Always' } as never,
      });
    } catch (err) {
      if (isApiError(err, 409)) return;
      // e.g. 403 from the ServiceAccount admission plugin until the namespace's "default" account
      // exists: retry, as a ReplicaSet controller would.
      this.ctx.log('functions', 'pod create failed, retrying in 1 s', {
        pod: `${ns}/${podName}`,
        error: String(err),
      });
      setTimeout(
        () =>
          this.run(async () => {
            const current = (await this.ctx.kube.find('serving.knative.dev/v1', 'Service', ns, name)) as
              KnativeService | undefined;
            const st = this.state.get(`${ns}/${name}`);
            if (this.stopped || !current || revisionHash(current) !== revision || st?.podName !== podName)
              return;
            await this.createPod(current, revision);
          }),
        1000,
      );
      return;
    }
    this.ctx.log('functions', 'pod created', {
      service: `${ns}/${name}`,
      pod: podName,
      function: functionName,
    });
  }

  private async onPod(type: string, pod: KubeObject): Promise<void> {
    const ns = pod.metadata!.namespace ?? 'default';
    const svcName = pod.metadata?.labels?.[SERVICE_LABEL];
    if (!svcName) return;
    const key = `${ns}/${svcName}`;
    const st = this.state.get(key);
    if (!st || st.podName !== pod.metadata?.name) return;
    const status = pod.status as
      { phase?: string; podIP?: string; containerStatuses?: { ready?: boolean }[] } | undefined;
    if (type === 'DELETED') {
      st.ready = false;
      if (!this.stopped) {
        const svc = (await this.ctx.kube.find('serving.knative.dev/v1', 'Service', ns, svcName)) as
          KnativeService | undefined;
        if (svc && revisionHash(svc) === st.revision) await this.createPod(svc, st.revision);
      }
      return;
    }
    const running = status?.phase === 'Running' && status.podIP && status.containerStatuses?.[0]?.ready;
    if (!running) {
      if (st.ready) {
        st.ready = false;
        await this.publish(ns, svcName, [], DEFAULT_PORT);
      }
      return;
    }
    if (st.ready || st.probing) return;
    st.probing = true;
    const containers = (pod.spec as { containers?: Container[] } | undefined)?.containers;
    const port = containers?.[0]?.ports?.[0]?.containerPort ?? DEFAULT_PORT;
    void this.probe(status.podIP!, port).then((ok) =>
      this.run(async () => {
        st.probing = false;
        if (!ok || this.state.get(key) !== st) return;
        st.ready = true;
        await this.publish(ns, svcName, [status.podIP!], port);
        await this.markReady(ns, svcName, st.revision);
        this.ctx.log('functions', 'ready', { service: key, podIp: status.podIP });
      }),
    );
  }

  /** Routes the Knative Service's address (port 80) to `endpoints`, through the fault proxy if faults are on. */
  private async publish(ns: string, name: string, addresses: string[], port: number): Promise<void> {
    const ksvc = await this.ctx.kube.find('serving.knative.dev/v1', 'Service', ns, name);
    if (!ksvc) return;
    let route = { addresses, port };
    if (new FaultInjector(this.faults).enabled) {
      const key = `${ns}/${name}`;
      let proxy = this.proxies.get(key);
      if (!proxy) {
        proxy = startFaultProxy(this.ctx.network.plan.hostAddress, this.faults);
        this.proxies.set(key, proxy);
      }
      const p = await proxy;
      p.setTarget(addresses[0] ? { host: addresses[0], port } : undefined);
      route = { addresses: addresses.length ? [this.ctx.network.plan.hostAddress] : [], port: p.port };
    }
    const ports = [{ name: 'http', port: 80, targetPort: route.port }];
    await ensureRoutedService(this.ctx, name, ns, ports, {
      owner: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name, uid: ksvc.metadata!.uid! },
    });
    await publishEndpoints(this.ctx, name, ns, ports, route.addresses);
  }

  /** Knative's readiness probe of faas-js-runtime: GET /health/readiness. */
  private async probe(ip: string, port: number): Promise<boolean> {
    const deadline = Date.now() + 60_000;
    while (!this.stopped && Date.now() < deadline) {
      try {
        const res = await fetch(`http://${ip}:${port}/health/readiness`, {
          signal: AbortSignal.timeout(1000),
        });
        if (res.ok) return true;
      } catch {
        /* not listening yet */
      }
      await new Promise((r) => setTimeout(r, 150));
    }
    return false;
  }

  private async markReady(ns: string, name: string, revision: string): Promise<void> {
    const url = `http://${name}.${ns}.svc.cluster.local`;
    for (let i = 0; i < 5; i++) {
      const svc = await this.ctx.kube.find('serving.knative.dev/v1', 'Service', ns, name);
      if (!svc) return;
      const now = new Date().toISOString();
      const status = {
        observedGeneration: svc.metadata?.generation,
        url,
        address: { url },
        latestCreatedRevisionName: `${name}-${revision}`,
        latestReadyRevisionName: `${name}-${revision}`,
        traffic: [{ revisionName: `${name}-${revision}`, latestRevision: true, percent: 100 }],
        conditions: ['ConfigurationsReady', 'Ready', 'RoutesReady'].map((type) => ({
          type,
          status: 'True',
          lastTransitionTime: now,
        })),
      };
      try {
        await this.ctx.kube.replaceStatus({ ...svc, status });
        return;
      } catch (err) {
        if (!isApiError(err, 409)) throw err;
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.ksvcWatch?.stop();
    this.podWatch?.stop();
    await Promise.all([...this.proxies.values()].map(async (p) => (await p).close()));
  }
}
