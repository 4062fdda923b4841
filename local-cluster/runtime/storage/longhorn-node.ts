// Stand-in for longhorn-manager's node controller: publishes the local cluster's node as a
// nodes.longhorn.io object (longhorn-system) with one disk, the node's data disk, where the
// provisioner keeps every volume (volume-backing.ts). Its status is what Longhorn would report
// (longhorn-disk-status.ts): the disk's real size and free space (statfs), the space Longhorn
// reserves on a default disk, and one replica per Longhorn volume bound here — with a single node
// and replica-soft-anti-affinity off (Longhorn's default) only one replica of a volume is
// scheduled whatever its numberOfReplicas. Rewritten when volumes change and every few seconds.
import { statfs } from 'node:fs/promises';
import type { RuntimeContext } from '../context.ts';
import type { KubeObject, ListWatchHandle } from '../../../functions/shared/kube/client.ts';
import { LONGHORN_DRIVER } from './classes.ts';
import { LONGHORN_SETTINGS, diskStatus } from './longhorn-disk-status.ts';
import { quantityBytes } from './provision-rules.ts';

export const LONGHORN_NAMESPACE = 'longhorn-system';
const LONGHORN_API = 'longhorn.io/v1beta2';
const DISK_NAME = 'default-disk';
const RESYNC_MS = 5000;

type PvObject = KubeObject & {
  spec?: { capacity?: { storage?: string }; csi?: { driver?: string; volumeHandle?: string } };
  status?: { phase?: string };
};

export class LonghornNodeStandIn {
  private watch?: ListWatchHandle;
  private timer?: NodeJS.Timeout;
  private pending?: Promise<void>;
  private again = false;

  constructor(
    private readonly ctx: RuntimeContext,
    private readonly diskPath: string,
  ) {}

  async start(): Promise<void> {
    await this.ctx.kube.ensure({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: LONGHORN_NAMESPACE },
    });
    const { storageMaximum } = await this.space();
    await this.ctx.kube.ensure({
      apiVersion: LONGHORN_API,
      kind: 'Node',
      metadata: { name: this.ctx.nodeName, namespace: LONGHORN_NAMESPACE },
      spec: {
        name: this.ctx.nodeName,
        allowScheduling: true,
        evictionRequested: false,
        tags: [],
        disks: {
          [DISK_NAME]: {
            diskType: 'filesystem',
            path: this.diskPath,
            allowScheduling: true,
            evictionRequested: false,
            storageReserved: Math.floor(
              (storageMaximum * LONGHORN_SETTINGS.reservedPercentForDefaultDisk) / 100,
            ),
            tags: [],
          },
        },
      },
    });
    this.watch = this.ctx.kube.listWatch(
      { apiVersion: 'v1', kind: 'PersistentVolume', emitListed: false },
      () => this.sync(),
    );
    await this.watch.ready;
    await this.sync();
    this.timer = setInterval(() => void this.sync(), RESYNC_MS);
  }

  private async space(): Promise<{ storageMaximum: number; storageAvailable: number }> {
    const s = await statfs(this.diskPath);
    return { storageMaximum: s.blocks * s.bsize, storageAvailable: s.bavail * s.bsize };
  }

  /** One sync at a time; a change during one makes another. */
  private sync(): Promise<void> {
    if (this.pending) {
      this.again = true;
      return this.pending;
    }
    this.pending = this.write()
      .catch((err: unknown) => this.ctx.log('longhorn', 'node status not written', { error: String(err) }))
      .finally(() => {
        this.pending = undefined;
        if (this.again) {
          this.again = false;
          void this.sync();
        }
      });
    return this.pending;
  }

  private async write(): Promise<void> {
    const node = await this.ctx.kube.find<KubeObject>(
      LONGHORN_API,
      'Node',
      LONGHORN_NAMESPACE,
      this.ctx.nodeName,
    );
    if (!node) return;
    const disk = (
      node.spec?.disks as Record<string, { storageReserved?: number; path?: string }> | undefined
    )?.[DISK_NAME];
    if (!disk) return;
    const replicas: Record<string, number> = {};
    for (const pv of await this.ctx.kube.list<PvObject>('v1', 'PersistentVolume')) {
      if (pv.spec?.csi?.driver !== LONGHORN_DRIVER) continue;
      // longhorn-manager names a volume's replicas <volume>-r-<suffix>.
      replicas[`${pv.spec.csi.volumeHandle ?? pv.metadata!.name}-r-0`] =
        quantityBytes(pv.spec.capacity?.storage) ?? 0;
    }
    const status = diskStatus({
      name: DISK_NAME,
      path: disk.path ?? this.diskPath,
      nodeName: this.ctx.nodeName,
      uuid: `${this.ctx.nodeName}-${DISK_NAME}`,
      ...(await this.space()),
      // An administrator may change the reservation on the Node (as in Longhorn's UI).
      storageReserved: disk.storageReserved ?? 0,
      replicas,
    });
    node.status = {
      ...(node.status ?? {}),
      diskStatus: { [DISK_NAME]: status },
      conditions: [
        { type: 'Ready', status: 'True', reason: '', message: `Node ${this.ctx.nodeName} is ready` },
        { type: 'Schedulable', status: 'True', reason: '', message: '' },
      ],
    };
    await this.ctx.kube.writeStatus(node);
  }

  stop(): void {
    this.watch?.stop();
    if (this.timer) clearInterval(this.timer);
  }
}
