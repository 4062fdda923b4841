// Stand-in for KubeVirt's virt-controller: a VirtualMachine (kubevirt.io/v1) that should run
// (spec.running: true, or runStrategy Always / RerunOnFailure / Once) gets a
// VirtualMachineInstance (phase Running) and status.created/ready true, printableStatus
// Running, once every PVC / DataVolume-backed volume is Bound and every Multus network's
// NetworkAttachmentDefinition exists. Otherwise the status says why not (printableStatus
// Stopped, or WaitingForVolumeBinding / ErrorPvcNotFound with a Ready=False condition).
import type { RuntimeContext } from '../context.ts';
import { KeyedQueue } from '../keyed-queue.ts';
import { isApiError, type KubeObject, type ListWatchHandle } from '../../../functions/shared/kube/client.ts';

type VmObject = KubeObject & {
  spec?: {
    running?: boolean;
    runStrategy?: string;
    template?: {
      metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
      spec?: {
        volumes?: {
          name: string;
          persistentVolumeClaim?: { claimName: string };
          dataVolume?: { name: string };
        }[];
        networks?: { name: string; multus?: { networkName: string }; pod?: Record<string, unknown> }[];
        domain?: Record<string, unknown>;
      };
    };
  };
};

export interface VmReadiness {
  shouldRun: boolean;
  blocker?: { printableStatus: string; reason: string; message: string };
}

export function shouldRun(vm: VmObject): boolean {
  const s = vm.spec ?? {};
  if (s.runStrategy) return ['Always', 'RerunOnFailure', 'Once'].includes(s.runStrategy);
  return s.running === true;
}

export class KubeVirtController {
  private watches: ListWatchHandle[] = [];
  private readonly queue = new KeyedQueue(
    (key) => {
      const [ns, name] = key.split('/') as [string, string];
      return this.reconcile(ns, name);
    },
    (key, err) => this.ctx.log('kubevirt', 'reconcile failed', { vm: key, error: String(err) }),
  );
  private readonly vms = new Map<string, VmObject>();

  constructor(private readonly ctx: RuntimeContext) {}

  async start(): Promise<void> {
    const vmWatch = this.ctx.kube.listWatch(
      { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', emitListed: true },
      (type, vm) => {
        const key = `${vm.metadata!.namespace}/${vm.metadata!.name}`;
        if (type === 'DELETED') this.vms.delete(key);
        else this.vms.set(key, vm as VmObject);
        if (type !== 'DELETED') this.enqueue(vm.metadata!.namespace ?? 'default', vm.metadata!.name!);
      },
    );
    // A VM waiting for a claim or a network is re-evaluated when those change.
    const requeueAll = () => {
      for (const vm of this.vms.values())
        this.enqueue(vm.metadata!.namespace ?? 'default', vm.metadata!.name!);
    };
    const pvcWatch = this.ctx.kube.listWatch(
      { apiVersion: 'v1', kind: 'PersistentVolumeClaim', emitListed: false },
      requeueAll,
    );
    const nadWatch = this.ctx.kube.listWatch(
      { apiVersion: 'k8s.cni.cncf.io/v1', kind: 'NetworkAttachmentDefinition', emitListed: false },
      requeueAll,
    );
    this.watches = [vmWatch, pvcWatch, nadWatch];
    await Promise.all(this.watches.map((w) => w.ready));
  }

  private enqueue(ns: string, name: string): void {
    this.queue.add(`${ns}/${name}`);
  }

  private async blocker(vm: VmObject): Promise<VmReadiness['blocker']> {
    const ns = vm.metadata!.namespace ?? 'default';
    for (const v of vm.spec?.template?.spec?.volumes ?? []) {
      const claim = v.persistentVolumeClaim?.claimName ?? v.dataVolume?.name;
      if (!claim) continue;
      const pvc = await this.ctx.kube.find('v1', 'PersistentVolumeClaim', ns, claim);
      if (!pvc) {
        return {
          printableStatus: 'ErrorPvcNotFound',
          reason: 'FailedPvcNotFound',
          message: `PVC ${ns}/${claim} does not exist, waiting for it to appear`,
        };
      }
      if ((pvc.status as { phase?: string } | undefined)?.phase !== 'Bound') {
        return {
          printableStatus: 'WaitingForVolumeBinding',
          reason: 'PVCNotReady',
          message: `PVC ${ns}/${claim} is not bound`,
        };
      }
    }
    for (const n of vm.spec?.template?.spec?.networks ?? []) {
      if (!n.multus) continue;
      const [nadNs, nadName] = n.multus.networkName.includes('/')
        ? n.multus.networkName.split('/')
        : [ns, n.multus.networkName];
      const nad = await this.ctx.kube.find(
        'k8s.cni.cncf.io/v1',
        'NetworkAttachmentDefinition',
        nadNs,
        nadName!,
      );
      if (!nad) {
        return {
          printableStatus: 'FailedCreate',
          reason: 'FailedCreate',
          message: `network-attachment-definitions.k8s.cni.cncf.io "${nadName}" not found in namespace ${nadNs}`,
        };
      }
    }
    return undefined;
  }

  private async reconcile(ns: string, name: string): Promise<void> {
    const vm = (await this.ctx.kube.find('kubevirt.io/v1', 'VirtualMachine', ns, name)) as
      VmObject | undefined;
    if (!vm || vm.metadata?.deletionTimestamp) return;
    const now = new Date().toISOString();
    let status: Record<string, unknown>;
    if (!shouldRun(vm)) {
      await this.ctx.kube.delete({
        apiVersion: 'kubevirt.io/v1',
        kind: 'VirtualMachineInstance',
        metadata: { name, namespace: ns },
      });
      status = {
        printableStatus: 'Stopped',
        created: false,
        ready: false,
        conditions: [
          {
            type: 'Ready',
            status: 'False',
            reason: 'VMINotExists',
            message: 'VMI does not exist',
            lastProbeTime: null,
            lastTransitionTime: now,
          },
        ],
      };
    } else {
      const b = await this.blocker(vm);
      if (b) {
        status = {
          printableStatus: b.printableStatus,
          created: false,
          ready: false,
          conditions: [
            {
              type: 'Ready',
              status: 'False',
              reason: b.reason,
              message: b.message,
              lastProbeTime: null,
              lastTransitionTime: now,
            },
          ],
        };
      } else {
        await this.ensureVmi(vm);
        status = {
          printableStatus: 'Running',
          created: true,
          ready: true,
          conditions: [
            { type: 'Ready', status: 'True', lastProbeTime: null, lastTransitionTime: now },
            { type: 'LiveMigratable', status: 'True', lastProbeTime: null, lastTransitionTime: now },
          ],
        };
      }
    }
    const prev = (vm.status ?? {}) as Record<string, unknown>;
    const comparable = (s: Record<string, unknown>) =>
      JSON.stringify([
        s.printableStatus,
        s.ready,
        s.created,
        (s.conditions as { reason?: string; message?: string }[] | undefined)?.map((c) => [
          c.reason,
          c.message,
        ]),
      ]);
    if (comparable(prev) === comparable(status)) return;
    try {
      await this.ctx.kube.replaceStatus({
        ...vm,
        status: { ...prev, ...status, volumeSnapshotStatuses: prev.volumeSnapshotStatuses },
      });
      this.ctx.log('kubevirt', 'vm status', { vm: `${ns}/${name}`, printableStatus: status.printableStatus });
    } catch (err) {
      if (isApiError(err, 409)) this.enqueue(ns, name);
      else throw err;
    }
  }

  private async ensureVmi(vm: VmObject): Promise<void> {
    const ns = vm.metadata!.namespace ?? 'default';
    const name = vm.metadata!.name!;
    const existing = await this.ctx.kube.find('kubevirt.io/v1', 'VirtualMachineInstance', ns, name);
    if (existing) return;
    const created = await this.ctx.kube.create({
      apiVersion: 'kubevirt.io/v1',
      kind: 'VirtualMachineInstance',
      metadata: {
        name,
        namespace: ns,
        labels: { ...vm.spec?.template?.metadata?.labels, 'kubevirt.io/vm': name },
        annotations: vm.spec?.template?.metadata?.annotations,
        ownerReferences: [
          {
            apiVersion: 'kubevirt.io/v1',
            kind: 'VirtualMachine',
            name,
            uid: vm.metadata!.uid!,
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: (vm.spec?.template?.spec ?? {}) as never,
    });
    const now = new Date().toISOString();
    try {
      await this.ctx.kube.writeStatus({
        ...created,
        status: {
          phase: 'Running',
          nodeName: 'local',
          conditions: [{ type: 'Ready', status: 'True', lastProbeTime: null, lastTransitionTime: now }],
          phaseTransitionTimestamps: [{ phase: 'Running', phaseTransitionTimestamp: now }],
        },
      });
    } catch (err) {
      this.ctx.log('kubevirt', 'vmi status write failed', { vm: `${ns}/${name}`, error: String(err) });
    }
  }

  stop(): void {
    this.queue.stop();
    for (const w of this.watches) w.stop();
  }
}
