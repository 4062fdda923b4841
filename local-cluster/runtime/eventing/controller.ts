// Knative Eventing for the local cluster, driven by the same objects a real cluster gets
// (applied from config/eventing): Brokers, Triggers, ApiServerSources and PingSources are
// watched in the API server; each Broker is an in-memory broker.ts with an HTTP ingress at
// http://broker-ingress.knative-eventing.svc.cluster.local/<ns>/<broker>, as upstream.
import http from 'node:http';
import axios from 'axios';
import { HTTP } from 'cloudevents';
import type { RuntimeContext } from '../context.ts';
import {
  isApiError,
  Kube,
  type KubeObject,
  type ListWatchHandle,
} from '../../../functions/shared/kube/client.ts';
import { ApiServerSourceRunner, type ApiServerSourceSpec } from './apiserver-source.ts';
import {
  Broker,
  type AnyCloudEvent,
  type DeliveryRecord,
  type Destination,
  type TriggerConfig,
} from './broker.ts';
import type { DeliverySpec } from './delivery-spec.ts';
import { FaultInjector, type FaultOptions } from './faults.ts';
import { PingSourceRunner, type PingSourceSpec } from './ping-source.ts';
import { ensureRoutedService, publishEndpoints } from '../network/routed-service.ts';

const INGRESS_SERVICE = { name: 'broker-ingress', namespace: 'knative-eventing' };

interface SinkSpec {
  sink?: Destination;
}

function conditionsReady(now: string, extra: string[] = []): Record<string, string>[] {
  return ['Ready', ...extra].map((type) => ({ type, status: 'True', lastTransitionTime: now }));
}

export class EventingController {
  private readonly brokers = new Map<string, Broker>();
  private readonly triggers = new Map<string, KubeObject>();
  private readonly apiSources = new Map<string, { runner: ApiServerSourceRunner; generation?: number }>();
  private readonly pingSources = new Map<string, { runner: PingSourceRunner; generation?: number }>();
  private readonly watches: ListWatchHandle[] = [];
  private ingress?: http.Server;
  private ingressPort = 0;
  private readonly faults: FaultInjector;
  /** The latest delivery records (the oldest are dropped beyond 5000). */
  readonly deliveries: DeliveryRecord[] = [];
  /** Delivery records by outcome since start, never dropped: e.g. how many events were dead-lettered. */
  readonly outcomes: Record<DeliveryRecord['outcome'], number> = {
    delivered: 0,
    retrying: 0,
    'dead-lettered': 0,
    dropped: 0,
    failed: 0,
  };
  private serial: Promise<void> = Promise.resolve();

  constructor(
    private readonly ctx: RuntimeContext,
    faults: FaultOptions = {},
  ) {
    this.faults = new FaultInjector(faults);
  }

  async start(): Promise<void> {
    await this.startIngress();
    const watch = (
      apiVersion: string,
      kind: string,
      fn: (type: string, obj: KubeObject) => Promise<void>,
    ) => {
      const h = this.ctx.kube.listWatch({ apiVersion, kind, emitListed: true }, (type, obj) => {
        this.serial = this.serial
          .then(() => fn(type, obj))
          .catch((err: unknown) =>
            this.ctx.log('eventing', `${kind} handling failed`, {
              name: obj.metadata?.name,
              error: String(err),
            }),
          );
      });
      this.watches.push(h);
      return h.ready;
    };
    await watch('eventing.knative.dev/v1', 'Broker', (t, o) => this.onBroker(t, o));
    await watch('eventing.knative.dev/v1', 'Trigger', (t, o) => this.onTrigger(t, o));
    await watch('sources.knative.dev/v1', 'ApiServerSource', (t, o) => this.onApiServerSource(t, o));
    await watch('sources.knative.dev/v1', 'PingSource', (t, o) => this.onPingSource(t, o));
    await this.serial;
  }

  /** Resolves when every object seen so far has been handled (sources started, triggers set). */
  async settled(): Promise<void> {
    await this.serial;
  }

  broker(namespace: string, name: string): Broker | undefined {
    return this.brokers.get(`${namespace}/${name}`);
  }

  private async startIngress(): Promise<void> {
    this.ingress = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const [, ns, name] = (req.url ?? '').split('?')[0]!.split('/');
        const broker = ns && name ? this.broker(ns, name) : undefined;
        if (req.method !== 'POST' || !broker) {
          res.writeHead(req.method !== 'POST' ? 405 : 404).end();
          return;
        }
        try {
          const event = HTTP.toEvent({ headers: req.headers, body: Buffer.concat(chunks) }) as AnyCloudEvent;
          broker.publish(event);
          res.writeHead(202).end();
        } catch (err) {
          res.writeHead(400, { 'content-type': 'text/plain' }).end(String(err));
        }
      });
    });
    // On the host's link address: pods reach it through the broker-ingress Service.
    const host = this.ctx.network.plan.hostAddress;
    await new Promise<void>((resolve) => this.ingress!.listen(0, host, () => resolve()));
    this.ingressPort = (this.ingress.address() as { port: number }).port;
    const ports = [{ name: 'http', port: 80, targetPort: this.ingressPort }];
    await ensureRoutedService(this.ctx, INGRESS_SERVICE.name, INGRESS_SERVICE.namespace, ports);
    await publishEndpoints(this.ctx, INGRESS_SERVICE.name, INGRESS_SERVICE.namespace, ports, [host]);
  }

  /** Destination → URL, following Knative's addressable resolution. */
  async resolve(dest: Destination, namespace: string): Promise<string> {
    let base: string | undefined;
    if (dest.ref) {
      const ns = dest.ref.namespace ?? namespace;
      const kind = dest.ref.kind ?? '';
      if (kind === 'Broker') {
        base = `http://${INGRESS_SERVICE.name}.${INGRESS_SERVICE.namespace}.svc.cluster.local/${ns}/${dest.ref.name}`;
      } else if (kind === 'Service' && dest.ref.apiVersion?.startsWith('serving.knative.dev/')) {
        base = `http://${dest.ref.name}.${ns}.svc.cluster.local`;
      } else if (kind === 'Service' && (dest.ref.apiVersion ?? 'v1') === 'v1') {
        const svc = await this.ctx.kube.find('v1', 'Service', ns, dest.ref.name);
        if (!svc) throw new Error(`service "${ns}/${dest.ref.name}" not found`);
        const port = (svc.spec as { ports?: { port: number }[] } | undefined)?.ports?.[0]?.port ?? 80;
        base = `http://${dest.ref.name}.${ns}.svc.cluster.local${port === 80 ? '' : `:${port}`}`;
      } else {
        const obj = await this.ctx.kube.find(dest.ref.apiVersion ?? 'v1', kind, ns, dest.ref.name);
        const url = (obj?.status as { address?: { url?: string } } | undefined)?.address?.url;
        if (!url) throw new Error(`${kind} "${ns}/${dest.ref.name}" is not addressable`);
        base = url;
      }
    }
    if (dest.uri)
      return base ? new URL(dest.uri, base.endsWith('/') ? base : `${base}/`).toString() : dest.uri;
    if (!base) throw new Error('destination has neither ref nor uri');
    return base;
  }

  /** Sends to a sink: in-process for a Broker, over HTTP otherwise. */
  private sinkFor(sink: Destination | undefined, namespace: string): (event: AnyCloudEvent) => void {
    return (event) => {
      if (sink?.ref?.kind === 'Broker') {
        const b = this.broker(sink.ref.namespace ?? namespace, sink.ref.name);
        if (b) b.publish(event);
        else
          this.ctx.log('eventing', 'sink broker missing, event lost', {
            broker: sink.ref.name,
            id: event.id,
          });
        return;
      }
      if (!sink) return;
      void this.resolve(sink, namespace)
        .then(async (url) => {
          const m = HTTP.binary(event);
          await axios.post(url, m.body, {
            headers: m.headers as Record<string, string>,
            transformRequest: [(d: unknown) => d],
            ...this.ctx.network.agents,
          });
        })
        .catch((err: unknown) =>
          this.ctx.log('eventing', 'sink delivery failed', { id: event.id, error: String(err) }),
        );
    };
  }

  private onDeliveryRecord = (r: DeliveryRecord): void => {
    this.deliveries.push(r);
    this.outcomes[r.outcome]++;
    if (this.deliveries.length > 5000) this.deliveries.splice(0, 1000);
    this.ctx.log('eventing', 'delivery', { ...r });
  };

  private async onBroker(type: string, obj: KubeObject): Promise<void> {
    const ns = obj.metadata!.namespace ?? 'default';
    const name = obj.metadata!.name!;
    const key = `${ns}/${name}`;
    if (type === 'DELETED') {
      this.brokers.get(key)?.close();
      this.brokers.delete(key);
      return;
    }
    const delivery = (obj.spec as { delivery?: DeliverySpec } | undefined)?.delivery;
    let broker = this.brokers.get(key);
    if (!broker) {
      broker = new Broker({
        namespace: ns,
        name,
        delivery,
        resolve: (d, n) => this.resolve(d, n),
        faults: this.faults,
        onDelivery: this.onDeliveryRecord,
        agents: this.ctx.network.agents,
      });
      this.brokers.set(key, broker);
      this.refreshTriggers();
    } else broker.setDelivery(delivery);
    const url = `http://${INGRESS_SERVICE.name}.${INGRESS_SERVICE.namespace}.svc.cluster.local/${ns}/${name}`;
    await this.markReady(obj, { address: { url }, addresses: [{ url }] }, [
      'Addressable',
      'FilterReady',
      'IngressReady',
    ]);
  }

  private refreshTriggers(): void {
    const byBroker = new Map<string, TriggerConfig[]>();
    for (const t of this.triggers.values()) {
      const spec = (t.spec ?? {}) as {
        broker: string;
        filter?: { attributes?: Record<string, string> };
        filters?: never[];
        subscriber: Destination;
        delivery?: DeliverySpec;
      };
      const ns = t.metadata!.namespace ?? 'default';
      const key = `${ns}/${spec.broker}`;
      const list = byBroker.get(key) ?? [];
      list.push({
        namespace: ns,
        name: t.metadata!.name!,
        filter: { filter: spec.filter, filters: spec.filters },
        subscriber: spec.subscriber,
        delivery: spec.delivery,
      });
      byBroker.set(key, list);
    }
    for (const [key, broker] of this.brokers) broker.setTriggers(byBroker.get(key) ?? []);
  }

  private async onTrigger(type: string, obj: KubeObject): Promise<void> {
    const key = `${obj.metadata!.namespace}/${obj.metadata!.name}`;
    if (type === 'DELETED') this.triggers.delete(key);
    else this.triggers.set(key, obj);
    this.refreshTriggers();
    if (type === 'DELETED') return;
    const spec = obj.spec as { subscriber: Destination };
    let subscriberUri: string | undefined;
    try {
      subscriberUri = await this.resolve(spec.subscriber, obj.metadata!.namespace ?? 'default');
    } catch {
      subscriberUri = undefined;
    }
    await this.markReady(obj, subscriberUri ? { subscriberUri } : {}, ['BrokerReady', 'SubscriberResolved']);
  }

  private async onApiServerSource(type: string, obj: KubeObject): Promise<void> {
    const ns = obj.metadata!.namespace ?? 'default';
    const key = `${ns}/${obj.metadata!.name}`;
    const existing = this.apiSources.get(key);
    if (existing && (type === 'DELETED' || existing.generation !== obj.metadata?.generation)) {
      existing.runner.stop();
      this.apiSources.delete(key);
    }
    if (type === 'DELETED' || this.apiSources.has(key)) return;
    const spec = obj.spec as unknown as ApiServerSourceSpec & SinkSpec & { serviceAccountName?: string };
    // The receive adapter runs with the source's service account (RBAC applies to its watches).
    const kube =
      spec.serviceAccountName && this.ctx.serviceAccountKubeconfig
        ? Kube.fromFile(await this.ctx.serviceAccountKubeconfig(ns, spec.serviceAccountName))
        : this.ctx.kube;
    const runner = new ApiServerSourceRunner(
      kube,
      {
        mode: spec.mode,
        resources: spec.resources,
        namespace: ns,
        namespaceSelector: spec.namespaceSelector,
      },
      this.sinkFor(spec.sink, ns),
    );
    await runner.start();
    this.apiSources.set(key, { runner, generation: obj.metadata?.generation });
    const sinkUri = spec.sink ? await this.resolve(spec.sink, ns).catch(() => undefined) : undefined;
    await this.markReady(obj, sinkUri ? { sinkUri } : {}, [
      'Deployed',
      'SinkProvided',
      'SufficientPermissions',
    ]);
    this.ctx.log('eventing', 'ApiServerSource started', { source: key, resources: spec.resources.length });
  }

  private async onPingSource(type: string, obj: KubeObject): Promise<void> {
    const ns = obj.metadata!.namespace ?? 'default';
    const name = obj.metadata!.name!;
    const key = `${ns}/${name}`;
    const existing = this.pingSources.get(key);
    if (existing && (type === 'DELETED' || existing.generation !== obj.metadata?.generation)) {
      existing.runner.stop();
      this.pingSources.delete(key);
    }
    if (type === 'DELETED' || this.pingSources.has(key)) return;
    const spec = obj.spec as unknown as PingSourceSpec & SinkSpec;
    const runner = new PingSourceRunner(ns, name, spec, this.sinkFor(spec.sink, ns));
    runner.start();
    this.pingSources.set(key, { runner, generation: obj.metadata?.generation });
    const sinkUri = spec.sink ? await this.resolve(spec.sink, ns).catch(() => undefined) : undefined;
    await this.markReady(obj, sinkUri ? { sinkUri } : {}, ['Deployed', 'SinkProvided']);
  }

  private async markReady(obj: KubeObject, fields: Record<string, unknown>, extra: string[]): Promise<void> {
    const status = {
      ...(obj.status ?? {}),
      ...fields,
      observedGeneration: obj.metadata?.generation,
      conditions: conditionsReady(new Date().toISOString(), extra),
    };
    const same =
      JSON.stringify({ ...(obj.status ?? {}), conditions: undefined }) ===
      JSON.stringify({ ...status, conditions: undefined });
    if (same && (obj.status as { conditions?: unknown[] } | undefined)?.conditions?.length) return;
    try {
      const current = await this.ctx.kube.find(
        obj.apiVersion!,
        obj.kind!,
        obj.metadata!.namespace,
        obj.metadata!.name!,
      );
      if (!current) return;
      await this.ctx.kube.replaceStatus({ ...current, status });
    } catch (err) {
      if (!isApiError(err, 409) && !isApiError(err, 404)) {
        this.ctx.log('eventing', 'status write failed', {
          kind: obj.kind,
          name: obj.metadata?.name,
          error: String(err),
        });
      }
    }
  }

  /** Make every PingSource tick now; returns how many fired. */
  firePingSources(): number {
    for (const s of this.pingSources.values()) s.runner.fire();
    return this.pingSources.size;
  }

  async stop(): Promise<void> {
    for (const w of this.watches) w.stop();
    for (const s of this.apiSources.values()) s.runner.stop();
    for (const s of this.pingSources.values()) s.runner.stop();
    for (const b of this.brokers.values()) b.close();
    await new Promise<void>((r) => (this.ingress ? this.ingress.close(() => r()) : r()));
  }
}
