// Enforces NetworkPolicies in the cluster's network namespace: watches policies, pods and
// namespaces, renders the rules (policy-rules.ts) and replaces the nftables table in one
// transaction whenever what they render changes.
import { execa } from 'execa';
import type {
  Kube,
  KubeObject,
  ListWatchHandle,
  WatchEventType,
} from '../../../functions/shared/kube/client.ts';
import { renderPolicyTable, type NetworkPolicySpec, type PolicyInput } from './policy-rules.ts';

export interface PolicyControllerOptions {
  kube: Kube;
  clusterNetnsPath: string;
  nodeAddresses: string[];
  log(message: string, fields?: Record<string, unknown>): void;
}

type PodObject = KubeObject & {
  spec?: {
    hostNetwork?: boolean;
    containers?: { ports?: { name?: string; containerPort: number; protocol?: string }[] }[];
  };
  status?: { podIP?: string; phase?: string };
};

export class NetworkPolicyController {
  private readonly policies = new Map<string, PolicyInput['policies'][number]>();
  private readonly pods = new Map<string, PolicyInput['pods'][number]>();
  private readonly namespaces = new Map<string, PolicyInput['namespaces'][number]>();
  private readonly watches: ListWatchHandle[] = [];
  private applied = '';
  private timer?: NodeJS.Timeout;
  private applying: Promise<void> = Promise.resolve();

  constructor(private readonly o: PolicyControllerOptions) {}

  async start(): Promise<void> {
    const key = (obj: KubeObject) => `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
    const watch = (apiVersion: string, kind: string, on: (type: WatchEventType, obj: KubeObject) => void) =>
      this.o.kube.listWatch({ apiVersion, kind, emitListed: true }, (type, obj) => {
        on(type, obj);
        this.schedule();
      });
    this.watches.push(
      watch('networking.k8s.io/v1', 'NetworkPolicy', (type, obj) => {
        if (type === 'DELETED') this.policies.delete(key(obj));
        else
          this.policies.set(key(obj), {
            namespace: obj.metadata!.namespace!,
            name: obj.metadata!.name!,
            spec: (obj as { spec?: NetworkPolicySpec }).spec ?? { podSelector: {} },
          });
      }),
      watch('v1', 'Pod', (type, obj) => {
        const pod = obj as PodObject;
        const ip = pod.status?.podIP;
        const done = pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
        if (type === 'DELETED' || !ip || done || pod.spec?.hostNetwork) this.pods.delete(key(obj));
        else
          this.pods.set(key(obj), {
            namespace: obj.metadata!.namespace!,
            name: obj.metadata!.name!,
            ip,
            labels: (obj.metadata?.labels as Record<string, string> | undefined) ?? {},
            ports: (pod.spec?.containers ?? []).flatMap((c) => c.ports ?? []),
          });
      }),
      watch('v1', 'Namespace', (type, obj) => {
        if (type === 'DELETED') this.namespaces.delete(obj.metadata!.name!);
        else
          this.namespaces.set(obj.metadata!.name!, {
            name: obj.metadata!.name!,
            labels: (obj.metadata?.labels as Record<string, string> | undefined) ?? {},
          });
      }),
    );
    await Promise.all(this.watches.map((w) => w.ready));
    this.schedule(0);
    await this.settled();
  }

  /** Resolves once the rules for everything seen so far are in place. */
  async settled(): Promise<void> {
    while (this.timer) await new Promise((r) => setTimeout(r, 20));
    await this.applying;
  }

  private schedule(delayMs = 50): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.applying = this.applying.then(() => this.apply());
    }, delayMs);
  }

  private async apply(): Promise<void> {
    const script = renderPolicyTable({
      policies: [...this.policies.values()],
      pods: [...this.pods.values()],
      namespaces: [...this.namespaces.values()],
      nodeAddresses: this.o.nodeAddresses,
    });
    if (script === this.applied) return;
    try {
      await execa('nsenter', [`--net=${this.o.clusterNetnsPath}`, '--', 'nft', '-f', '-'], { input: script });
      this.applied = script;
      this.o.log('network policies applied', { policies: this.policies.size, pods: this.pods.size });
    } catch (err) {
      this.o.log('network policies could not be applied', { error: String(err), script });
    }
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const w of this.watches) w.stop();
  }
}
