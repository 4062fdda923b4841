// Runs one ApiServerSource (sources.knative.dev/v1, mode Resource): a list+watch per listed
// resource (with its label selector), like the upstream receive adapter: objects that exist
// when it starts, or that it finds again after a re-list, produce no event; every watch event
// afterwards becomes a dev.knative.apiserver.resource.{add,update,delete} CloudEvent.
import type { Kube, ListWatchHandle } from '../../../functions/shared/kube/client.ts';
import { apiServerSourceAttribute, makeApiServerEvent, type ApiServerEventKind } from './apiserver-events.ts';
import type { AnyCloudEvent } from './broker.ts';
import { labelSelectorString, type LabelSelector } from './label-selector.ts';

export interface ApiServerSourceSpec {
  mode?: string;
  resources: { apiVersion: string; kind: string; selector?: LabelSelector }[];
  /** The source's namespace: the only one watched unless namespaceSelector is set (upstream v1). */
  namespace: string;
  namespaceSelector?: LabelSelector;
}

export class ApiServerSourceRunner {
  private handles: ListWatchHandle[] = [];
  private readonly allowedNamespaces = new Set<string>();
  private filterNamespaces = false;

  private namespaceAllowed(ns: string | undefined): boolean {
    return !this.filterNamespaces || (ns !== undefined && this.allowedNamespaces.has(ns));
  }

  constructor(
    private readonly kube: Kube,
    private readonly spec: ApiServerSourceSpec,
    private readonly emit: (event: AnyCloudEvent) => void,
  ) {}

  async start(): Promise<void> {
    if ((this.spec.mode ?? 'Reference') !== 'Resource') {
      throw new Error(
        `ApiServerSource mode ${this.spec.mode ?? 'Reference'} is not supported locally (use Resource)`,
      );
    }
    const source = apiServerSourceAttribute(this.kube.serverUrl);
    if (this.spec.namespaceSelector && labelSelectorString(this.spec.namespaceSelector)) {
      const nsSel = labelSelectorString(this.spec.namespaceSelector);
      const h = this.kube.listWatch(
        { apiVersion: 'v1', kind: 'Namespace', labelSelector: nsSel, emitListed: true },
        (type, ns) => {
          if (type === 'DELETED') this.allowedNamespaces.delete(ns.metadata!.name!);
          else this.allowedNamespaces.add(ns.metadata!.name!);
        },
      );
      this.handles.push(h);
      await h.ready;
      this.filterNamespaces = true;
    }
    const kinds: Record<string, ApiServerEventKind> = { ADDED: 'add', MODIFIED: 'update', DELETED: 'delete' };
    for (const r of this.spec.resources) {
      const h = this.kube.listWatch(
        {
          apiVersion: r.apiVersion,
          kind: r.kind,
          namespace: this.spec.namespaceSelector ? undefined : this.spec.namespace,
          labelSelector: labelSelectorString(r.selector),
          emitListed: false,
        },
        (type, obj) => {
          if (this.spec.namespaceSelector && !this.namespaceAllowed(obj.metadata?.namespace)) return;
          obj.apiVersion ??= r.apiVersion;
          obj.kind ??= r.kind;
          this.emit(makeApiServerEvent(source, kinds[type]!, obj));
        },
      );
      this.handles.push(h);
    }
    await Promise.all(this.handles.map((h) => h.ready));
  }

  stop(): void {
    for (const h of this.handles) h.stop();
    this.handles = [];
  }
}
