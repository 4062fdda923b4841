// Stand-in for CDI's DataVolume and import controllers (kubevirt/containerized-data-importer
// pkg/controller/datavolume/import-controller.go, pkg/controller/import-controller.go), for
// DataVolumes with an HTTP source: the DataVolume becomes a PVC of its name in its storage class
// (datavolume-rules.ts targetClaim), and once the claim is Bound an importer pod
// (`importer-<claim>`, a real pod on the node agent, so NetworkPolicies apply to it) downloads the
// URL into it. The DataVolume's status follows the claim and the pod (ImportScheduled,
// ImportInProgress with the progress scraped from the importer's metrics every 2 s, Succeeded,
// restartCount, conditions Bound/Running/Ready). On success the importer pod is deleted, as CDI
// does unless asked to retain it. Deleting the DataVolume deletes the claim through its owner
// reference (kube-controller-manager's garbage collector).
// Not played: CDI's volume populators (a `prime` claim rebound to the target; the legacy path
// without populators is what this does), scratch claims (the importer downloads to its own
// scratch space), upload/registry/clone sources, checkpoints, the importer's TLS for metrics.
import axios from 'axios';
import type { RuntimeContext } from '../context.ts';
import { isApiError, type KubeObject, type ListWatchHandle } from '../../../functions/shared/kube/client.ts';
import { KeyedQueue } from '../keyed-queue.ts';
import { CDI_IMPORTER_IMAGE } from '../node-agent/images.ts';
import type { StorageClass } from '../storage/classes.ts';
import {
  dataVolumeStatus,
  importerPodName,
  importerPod,
  progressFromMetrics,
  targetClaim,
  type DataVolume,
  type DataVolumeEvent,
  type DataVolumeStatus,
} from './datavolume-rules.ts';

const DV = { apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataVolume' } as const;
/** datavolume/controller-base.go reconcileProgressUpdate: RequeueAfter 2 s while importing. */
const PROGRESS_INTERVAL_MS = 2000;

export class CdiController {
  private watches: ListWatchHandle[] = [];
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly queue = new KeyedQueue(
    (key) => {
      const [ns, name] = key.split('/') as [string, string];
      return this.reconcile(ns, name);
    },
    (key, err) => {
      this.ctx.log('cdi', 'reconcile failed', { dataVolume: key, error: String(err) });
      this.later(key, PROGRESS_INTERVAL_MS);
    },
  );

  constructor(
    private readonly ctx: RuntimeContext,
    private readonly importerImage = CDI_IMPORTER_IMAGE,
  ) {}

  async start(): Promise<void> {
    const enqueue = (obj: KubeObject) =>
      this.queue.add(`${obj.metadata!.namespace ?? 'default'}/${obj.metadata!.name}`);
    // A claim or an importer pod is the DataVolume's by name (the claim) or by owner (the pod's claim).
    const enqueueOwner = (obj: KubeObject) => {
      const owner = obj.metadata?.ownerReferences?.find((o) =>
        ['DataVolume', 'PersistentVolumeClaim'].includes(o.kind),
      );
      if (owner) this.queue.add(`${obj.metadata!.namespace ?? 'default'}/${owner.name}`);
    };
    this.watches = [
      this.ctx.kube.listWatch({ ...DV, emitListed: true }, (type, obj) => {
        if (type !== 'DELETED') enqueue(obj);
      }),
      this.ctx.kube.listWatch(
        {
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          labelSelector: 'app=containerized-data-importer',
          emitListed: false,
        },
        (_t, obj) => enqueueOwner(obj),
      ),
      this.ctx.kube.listWatch(
        {
          apiVersion: 'v1',
          kind: 'Pod',
          labelSelector: 'app=containerized-data-importer',
          emitListed: false,
        },
        (_t, obj) => enqueueOwner(obj),
      ),
    ];
    await Promise.all(this.watches.map((w) => w.ready));
  }

  private later(key: string, ms: number): void {
    if (this.timers.has(key)) return;
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        this.queue.add(key);
      }, ms),
    );
  }

  private async reconcile(ns: string, name: string): Promise<void> {
    const dv = (await this.ctx.kube.find(DV.apiVersion, DV.kind, ns, name)) as DataVolume | undefined;
    if (!dv || dv.metadata?.deletionTimestamp) return;
    const url = dv.spec?.source?.http?.url;
    if (!url) return; // other sources are not played
    let claim = await this.ctx.kube.find('v1', 'PersistentVolumeClaim', ns, name);
    if (claim && !claim.metadata?.ownerReferences?.some((o) => o.uid === dv.metadata!.uid)) {
      // controller-base.go validatePVC: a claim of that name not owned by the DataVolume.
      await this.writeStatus(
        dv,
        { phase: 'Pending' },
        {
          type: 'Warning',
          reason: 'ErrResourceExists',
          message: `Resource "${name}" already exists and is not managed by DataVolume`,
        },
      );
      return;
    }
    if (!claim) {
      const className = dv.spec?.storage?.storageClassName;
      const sc = className
        ? ((await this.ctx.kube.find('storage.k8s.io/v1', 'StorageClass', undefined, className)) as
            StorageClass | undefined)
        : undefined;
      if (!sc) {
        await this.writeStatus(
          dv,
          { phase: 'Pending' },
          {
            type: 'Warning',
            reason: 'ErrClaimNotValid',
            message: `storageclasses.storage.k8s.io "${className ?? ''}" not found`,
          },
        );
        return;
      }
      const manifest = targetClaim(dv, sc);
      if ('error' in manifest) {
        await this.writeStatus(
          dv,
          { phase: 'Pending' },
          { type: 'Warning', reason: 'ErrClaimNotValid', message: manifest.error },
        );
        return;
      }
      claim = (await this.ctx.kube.ensure(manifest.claim)).object;
      this.ctx.log('cdi', 'claim created', { dataVolume: `${ns}/${name}` });
    }
    const bound = (claim.status as { phase?: string } | undefined)?.phase === 'Bound';
    let pod = bound ? await this.ctx.kube.find('v1', 'Pod', ns, importerPodName(name)) : undefined;
    const done = dv.status?.phase === 'Succeeded';
    if (bound && !pod && !done) {
      pod = (await this.ctx.kube.ensure(importerPod(dv, claim, this.importerImage))).object;
      this.ctx.log('cdi', 'importer pod created', { dataVolume: `${ns}/${name}`, pod: pod.metadata?.name });
    }
    const podStatus = pod?.status as { phase?: string; podIP?: string } | undefined;
    let progress: string | undefined;
    if (podStatus?.phase === 'Running' && podStatus.podIP)
      progress = await this.scrapeProgress(podStatus.podIP, dv);
    const { status, event } = dataVolumeStatus(dv.status, claim, pod, progress, new Date().toISOString());
    await this.writeStatus(dv, status, event);
    if (status.phase === 'Succeeded') {
      // import-controller.go cleanup: the importer pod is deleted once the import succeeded.
      if (pod) await this.ctx.kube.delete(pod);
      return;
    }
    if (pod) this.later(`${ns}/${name}`, PROGRESS_INTERVAL_MS);
  }

  private async scrapeProgress(podIp: string, dv: DataVolume): Promise<string | undefined> {
    try {
      const res = await axios.get<string>(`http://${podIp}:8443/metrics`, {
        timeout: 2000,
        responseType: 'text',
        ...this.ctx.network.agents,
      });
      return progressFromMetrics(res.data, dv.metadata!.uid!);
    } catch {
      return undefined; // the importer is starting or gone; CDI ignores a failed scrape too
    }
  }

  private async writeStatus(
    dv: DataVolume,
    status: DataVolumeStatus,
    event?: DataVolumeEvent,
  ): Promise<void> {
    const same = JSON.stringify(dv.status ?? {}) === JSON.stringify({ ...(dv.status ?? {}), ...status });
    if (!same) {
      try {
        await this.ctx.kube.replaceStatus({
          ...dv,
          status: { ...(dv.status ?? {}), ...status },
        } as KubeObject);
      } catch (err) {
        if (!isApiError(err, 409) && !isApiError(err, 404)) throw err;
        this.later(`${dv.metadata!.namespace}/${dv.metadata!.name}`, 200);
        return;
      }
    }
    if (event) await this.recordEvent(dv, event);
  }

  private async recordEvent(dv: DataVolume, event: DataVolumeEvent): Promise<void> {
    const ns = dv.metadata!.namespace ?? 'default';
    await this.ctx.kube.objects
      .create({
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { generateName: `${dv.metadata!.name}.`, namespace: ns },
        involvedObject: {
          apiVersion: DV.apiVersion,
          kind: DV.kind,
          name: dv.metadata!.name,
          namespace: ns,
          uid: dv.metadata!.uid,
        },
        type: event.type,
        reason: event.reason,
        message: event.message,
        source: { component: 'datavolume-import-controller' },
        reportingComponent: 'datavolume-import-controller',
        firstTimestamp: new Date(),
        lastTimestamp: new Date(),
        count: 1,
      })
      .catch((err: unknown) => this.ctx.log('cdi', 'event not recorded', { error: String(err) }));
  }

  stop(): void {
    this.queue.stop();
    for (const w of this.watches) w.stop();
    for (const t of this.timers.values()) clearTimeout(t);
  }
}
