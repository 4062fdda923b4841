// Knative Serving for the local cluster (Serving itself cannot run here: it needs a networking
// layer, and Kourier, Istio and Contour all route through Envoy). Each serving.knative.dev/v1
// Service becomes what Serving would make of it, minus scale-to-zero: a Deployment of its revision
// template (kube-controller-manager runs it; a new template rolls out), with Knative's PORT /
// K_SERVICE / K_CONFIGURATION / K_REVISION environment and, when the container has none, Serving's
// default readiness probe (a TCP connect to the port); a Service at
// http://<name>.<ns>.svc.cluster.local (port 80 to the container's port); and the status Serving
// writes (url, address, revision names, Ready) once the Deployment has an available pod.
// With fault injection on, the Service routes to a fault proxy (fault-proxy.ts) that forwards to a
// `<name>-private` Service of the pods, as Serving's public Service routes through its activator.
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
  status?: { latestReadyRevisionName?: string; conditions?: { type: string; status: string }[] };
};

type DeploymentObject = KubeObject & {
  spec?: { template?: { metadata?: { labels?: Record<string, string> } } };
  status?: { observedGeneration?: number; availableReplicas?: number; updatedReplicas?: number };
};

export function revisionHash(svc: KnativeService): string {
  return createHash('sha256')
    .update(JSON.stringify(svc.spec?.template ?? {}))
    .digest('hex')
    .slice(0, 8);
}

const deploymentName = (service: string) => `${service}-deployment`;
const revisionName = (service: string, revision: string) => `${service}-${revision}`;
const containerPort = (svc: KnativeService) =>
  svc.spec?.template?.spec?.containers?.[0]?.ports?.[0]?.containerPort ?? DEFAULT_PORT;

/** The Deployment Serving would run for the Service's current revision. */
export function revisionDeployment(svc: KnativeService, revision: string): KubeObject {
  const ns = svc.metadata!.namespace ?? 'default';
  const name = svc.metadata!.name!;
  const template = svc.spec?.template ?? {};
  const port = containerPort(svc);
  const containers = (template.spec?.containers ?? []).map((c, i) => {
    if (i > 0) return c;
    const knativeEnv = [
      { name: 'PORT', value: String(port) },
      { name: 'K_SERVICE', value: name },
      { name: 'K_CONFIGURATION', value: name },
      { name: 'K_REVISION', value: revisionName(name, revision) },
    ];
    const probed = c as Container & { readinessProbe?: unknown };
    return {
      ...c,
      env: [...knativeEnv, ...(c.env ?? [])],
      readinessProbe: probed.readinessProbe ?? { tcpSocket: { port }, periodSeconds: 1 },
    };
  });
  const labels = {
    [SERVICE_LABEL]: name,
    'serving.knative.dev/configuration': name,
    'serving.knative.dev/revision': revisionName(name, revision),
  };
  const functionName = svc.metadata?.labels?.[FUNCTION_NAME_LABEL] ?? name;
  // Knative's own pod-spec fields (timeoutSeconds, containerConcurrency) are not a PodSpec's.
  const { timeoutSeconds: _t, containerConcurrency: _c, ...podSpec } = template.spec ?? {};
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: deploymentName(name),
      namespace: ns,
      labels,
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
    spec: {
      replicas: 1,
      selector: { matchLabels: { [SERVICE_LABEL]: name } },
      template: {
        metadata: {
          labels: { ...template.metadata?.labels, ...labels },
          annotations: { ...template.metadata?.annotations, [LOG_NAME_ANNOTATION]: functionName },
        },
        spec: { ...podSpec, containers },
      },
    },
  } as KubeObject;
}

export class FunctionController {
  private ksvcWatch?: ListWatchHandle;
  private deploymentWatch?: ListWatchHandle;
  private readonly ready = new Map<string, boolean>();
  private readonly proxies = new Map<string, Promise<FaultProxy>>();
  private serial: Promise<void> = Promise.resolve();

  constructor(
    private readonly ctx: RuntimeContext,
    private readonly faults: FaultOptions = {},
  ) {}

  async start(): Promise<void> {
    this.ksvcWatch = this.ctx.kube.listWatch(
      { apiVersion: 'serving.knative.dev/v1', kind: 'Service', emitListed: true },
      (type, svc) => this.run(svc, type === 'DELETED'),
    );
    this.deploymentWatch = this.ctx.kube.listWatch(
      { apiVersion: 'apps/v1', kind: 'Deployment', labelSelector: SERVICE_LABEL, emitListed: false },
      (_type, d) => {
        const name = d.metadata?.labels?.[SERVICE_LABEL];
        if (name) this.run({ metadata: { namespace: d.metadata?.namespace, name } }, false);
      },
    );
    await Promise.all([this.ksvcWatch.ready, this.deploymentWatch.ready]);
  }

  private run(svc: KubeObject, deleted: boolean): void {
    const ns = svc.metadata?.namespace ?? 'default';
    const name = svc.metadata!.name!;
    this.serial = this.serial
      .then(async () => {
        if (deleted) {
          // its Deployment and Services go through their ownerReferences
          this.ready.delete(`${ns}/${name}`);
          return;
        }
        await this.reconcile(ns, name);
      })
      .catch((err: unknown) => {
        this.ctx.log('functions', 'reconcile failed, retrying in 1 s', {
          service: `${ns}/${name}`,
          error: String(err),
        });
        setTimeout(() => this.run(svc, false), 1000);
      });
  }

  /** Resolves once every Knative Service known so far is ready (or the timeout passes). */
  async waitReady(timeoutMs: number): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.serial;
      const notReady = [...this.ready.entries()].filter(([, r]) => !r).map(([k]) => k);
      if (notReady.length === 0 || Date.now() > deadline) return notReady;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Level-triggered: from the Service and its Deployment as they are now, one step each. */
  private async reconcile(ns: string, name: string): Promise<void> {
    const key = `${ns}/${name}`;
    const svc = await this.ctx.kube.find<KnativeService>('serving.knative.dev/v1', 'Service', ns, name);
    if (!svc) return;
    if (!this.ready.has(key)) this.ready.set(key, false);
    const revision = revisionHash(svc);
    const desired = revisionDeployment(svc, revision);
    const current = await this.ctx.kube.find<DeploymentObject>(
      'apps/v1',
      'Deployment',
      ns,
      deploymentName(name),
    );
    if (!current) {
      await this.ctx.kube.create(desired).catch((err: unknown) => {
        if (!isApiError(err, 409)) throw err;
      });
      this.ctx.log('functions', 'deployment created', {
        service: key,
        revision: revisionName(name, revision),
      });
      return;
    }
    const currentRevision = current.spec?.template?.metadata?.labels?.['serving.knative.dev/revision'];
    if (currentRevision !== revisionName(name, revision)) {
      await this.ctx.kube.replace({ ...current, spec: desired.spec } as KubeObject);
      this.ctx.log('functions', 'deployment rolled to a new revision', {
        service: key,
        revision: revisionName(name, revision),
      });
      return;
    }
    const st = current.status ?? {};
    const available =
      (st.observedGeneration ?? 0) >= (current.metadata?.generation ?? 0) &&
      (st.updatedReplicas ?? 0) >= 1 &&
      (st.availableReplicas ?? 0) >= 1;
    await this.route(svc, available);
    const rev = revisionName(name, revision);
    const shown = svc.status?.conditions?.find((c) => c.type === 'Ready')?.status;
    if (
      shown !== (available ? 'True' : 'Unknown') ||
      (available && svc.status?.latestReadyRevisionName !== rev)
    ) {
      await this.writeStatus(svc, revision, available);
      this.ctx.log('functions', available ? 'ready' : 'not ready', { service: key, revision: rev });
    }
    this.ready.set(key, available);
  }

  /** The Service at the Knative Service's address: to the pods, or through the fault proxy. */
  private async route(svc: KnativeService, available: boolean): Promise<void> {
    const ns = svc.metadata!.namespace ?? 'default';
    const name = svc.metadata!.name!;
    const owner = { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name, uid: svc.metadata!.uid! };
    const port = containerPort(svc);
    if (!new FaultInjector(this.faults).enabled) {
      await this.ensureSelectorService(name, ns, port, owner);
      return;
    }
    const privateIp = await this.ensureSelectorService(`${name}-private`, ns, port, owner);
    let proxy = this.proxies.get(`${ns}/${name}`);
    if (!proxy) {
      proxy = startFaultProxy(this.ctx.network.plan.hostAddress, this.faults);
      this.proxies.set(`${ns}/${name}`, proxy);
    }
    const p = await proxy;
    p.setTarget(available ? { host: privateIp, port: 80 } : undefined);
    const ports = [{ name: 'http', port: 80, targetPort: p.port }];
    await ensureRoutedService(this.ctx, name, ns, ports, { owner });
    await publishEndpoints(this.ctx, name, ns, ports, available ? [this.ctx.network.plan.hostAddress] : []);
  }

  private async ensureSelectorService(
    name: string,
    ns: string,
    port: number,
    owner: { apiVersion: string; kind: string; name: string; uid: string },
  ): Promise<string> {
    const { object } = await this.ctx.kube.ensure<KubeObject>({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name,
        namespace: ns,
        ownerReferences: [{ ...owner, controller: true, blockOwnerDeletion: true }],
      },
      spec: {
        selector: { [SERVICE_LABEL]: owner.name },
        ports: [{ name: 'http', port: 80, targetPort: port, protocol: 'TCP' }],
      },
    } as KubeObject);
    return (object.spec as { clusterIP: string }).clusterIP;
  }

  private async writeStatus(svc: KnativeService, revision: string, ready: boolean): Promise<void> {
    const ns = svc.metadata!.namespace ?? 'default';
    const name = svc.metadata!.name!;
    const url = `http://${name}.${ns}.svc.cluster.local`;
    const rev = revisionName(name, revision);
    const now = new Date().toISOString();
    const status = {
      observedGeneration: svc.metadata?.generation,
      url,
      address: { url },
      latestCreatedRevisionName: rev,
      ...(ready
        ? {
            latestReadyRevisionName: rev,
            traffic: [{ revisionName: rev, latestRevision: true, percent: 100 }],
          }
        : {}),
      conditions: ['ConfigurationsReady', 'Ready', 'RoutesReady'].map((type) => ({
        type,
        status: ready ? 'True' : 'Unknown',
        lastTransitionTime: now,
        ...(ready ? {} : { reason: 'Deploying' }),
      })),
    };
    try {
      await this.ctx.kube.replaceStatus({ ...svc, status });
    } catch (err) {
      // a newer version: its own event reconciles again
      if (!isApiError(err, 409)) throw err;
    }
  }

  async stop(): Promise<void> {
    this.ksvcWatch?.stop();
    this.deploymentWatch?.stop();
    await Promise.all([...this.proxies.values()].map(async (p) => (await p).close()));
  }
}
