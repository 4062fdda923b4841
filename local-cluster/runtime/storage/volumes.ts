// The storage stand-in: plays the external provisioner and CSI driver of every StorageClass of the
// local cluster (classes.ts) next to kube-controller-manager's real PV controller.
//
// As kubernetes-csi/external-provisioner does (pkg/controller/controller.go; rules in
// provision-rules.ts): a claim is provisioned once the PV controller has annotated it with its
// class's driver and, for a WaitForFirstConsumer class, once the scheduler has chosen a node;
// a PVC data source must pass getPVCSource's checks, and the request the driver's CreateVolume
// checks. A refusal is a Warning ProvisioningFailed event on the claim and a retry with backoff.
// Otherwise the volume is made (volume-backing.ts: an ext4 file system of the requested size, or a
// block device file of it) and a PersistentVolume whose claimRef names the claim is created; the
// PV controller binds the two. A claim annotated harvesterhci.io/imageId (a Longhorn backing
// image's class) gets that Harvester image's content first. When a claim is deleted the PV
// controller releases the volume; with reclaimPolicy Delete the provisioner removes its data and
// the PersistentVolume.
import { join } from 'node:path';
import type { RuntimeContext } from '../context.ts';
import { isApiError, type KubeObject, type ListWatchHandle } from '../../../functions/shared/kube/client.ts';
import type { PodSpec } from '../node-agent/container-spec.ts';
import { LOCAL_CLUSTER_STORAGE_CLASSES, type StorageClass } from './classes.ts';
import {
  checkCloneSource,
  createVolumeRefusal,
  provisioningFailedMessage,
  quantityBytes,
  takesClaim,
  type ClaimFacts,
  type Refusal,
  type VolumeMode,
} from './provision-rules.ts';
import {
  BLOCK_FILE,
  attachBlockDevice,
  claimStateDir,
  cloneFile,
  cloneVolume,
  createVolume,
  ensureDataDisk,
  releaseAll,
  removeVolume,
  sweepStale,
  volumeOwner,
  type VolumeLocation,
} from './volume-backing.ts';

export const IMAGE_ID_ANNOTATION = 'harvesterhci.io/imageId';
const PROVISIONED_BY_ANNOTATION = 'pv.kubernetes.io/provisioned-by';
/** external-provisioner retries a failed provisioning with exponential backoff (from 1 s, capped). */
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30_000;
/** The node's data disk (volume-backing.ts ensureDataDisk): VMI_DATA_DISK_SIZE, else 100 GiB (sparse). */
export const DATA_DISK_BYTES = quantityBytes(process.env.VMI_DATA_DISK_SIZE) ?? 100 * 1024 ** 3;

export type PvcObject = KubeObject & {
  spec?: {
    storageClassName?: string;
    volumeName?: string;
    accessModes?: string[];
    volumeMode?: string;
    resources?: { requests?: { storage?: string } };
    dataSource?: { kind: string; name: string; apiGroup?: string };
  };
  status?: { phase?: string; capacity?: Record<string, string>; accessModes?: string[] };
};

type PvObject = KubeObject & {
  spec?: {
    persistentVolumeReclaimPolicy?: string;
    volumeMode?: string;
    claimRef?: { namespace?: string; name?: string; uid?: string };
    csi?: { driver?: string; volumeHandle?: string };
  };
  status?: { phase?: string };
};

/** The image a claim is populated from: its raw content and virtual size, or why not yet. */
export type ImagePopulator = (
  imageId: string,
) => Promise<{ ready: true; rawFile: string; virtualBytes: number } | { ready: false; message: string }>;

export function claimFacts(pvc: PvcObject): ClaimFacts {
  return {
    name: pvc.metadata!.name!,
    namespace: pvc.metadata!.namespace ?? 'default',
    storageClassName: pvc.spec?.storageClassName,
    annotations: pvc.metadata?.annotations ?? {},
    accessModes: pvc.spec?.accessModes ?? ['ReadWriteOnce'],
    volumeMode: pvc.spec?.volumeMode === 'Block' ? 'Block' : 'Filesystem',
    requestBytes: quantityBytes(pvc.spec?.resources?.requests?.storage) ?? 0,
    dataSource: pvc.spec?.dataSource,
    bound: pvc.status?.phase === 'Bound',
    deleting: Boolean(pvc.metadata?.deletionTimestamp),
    volumeName: pvc.spec?.volumeName,
  };
}

export class VolumeClaims {
  private claimWatch?: ListWatchHandle;
  private volumeWatch?: ListWatchHandle;
  private imagePopulator?: ImagePopulator;
  private readonly retry = new Map<
    string,
    { timer?: NodeJS.Timeout; delayMs: number; lastMessage?: string }
  >();
  private readonly provisioning = new Set<string>();

  constructor(private readonly ctx: RuntimeContext) {}

  setImagePopulator(p: ImagePopulator): void {
    this.imagePopulator = p;
  }

  /** Where the node's data disk is mounted: the volumes' bytes (the Longhorn disk's path). */
  get dataDiskPath(): string {
    return join(this.ctx.paths.stateDir, 'volume-backing');
  }

  private location(namespace: string, claim: string): VolumeLocation {
    return { volumesDir: this.ctx.paths.volumes, backingDir: this.dataDiskPath, namespace, claim };
  }

  /** What a pod's volumeMount of the claim shows (a Filesystem volume's mount point). */
  volumeDir(namespace: string, claim: string): string {
    return join(this.ctx.paths.volumes, namespace, claim);
  }

  /** The loop device of a Block claim, for a pod's volumeDevices. */
  blockDevice(namespace: string, claim: string, owner: { uid: number; gid: number }): Promise<string> {
    return attachBlockDevice(this.location(namespace, claim), owner);
  }

  async start(): Promise<void> {
    // A killed run's mounts first (this state directory's too: its PID file is not ours yet).
    await sweepStale((message, fields) => this.ctx.log('volumes', message, fields));
    await claimStateDir(this.ctx.paths.stateDir);
    await ensureDataDisk(this.ctx.paths.stateDir, this.dataDiskPath, DATA_DISK_BYTES);
    for (const cls of LOCAL_CLUSTER_STORAGE_CLASSES) await this.ctx.kube.ensure(cls);
    this.claimWatch = this.ctx.kube.listWatch(
      { apiVersion: 'v1', kind: 'PersistentVolumeClaim', emitListed: true },
      (type, obj) => {
        void this.onClaim(type, obj as PvcObject).catch((err: unknown) =>
          this.ctx.log('volumes', 'claim handling failed', { claim: obj.metadata?.name, error: String(err) }),
        );
      },
    );
    this.volumeWatch = this.ctx.kube.listWatch(
      { apiVersion: 'v1', kind: 'PersistentVolume', emitListed: true },
      (type, obj) => {
        if (type === 'DELETED') return;
        void this.onVolume(obj as PvObject).catch((err: unknown) =>
          this.ctx.log('volumes', 'volume handling failed', {
            volume: obj.metadata?.name,
            error: String(err),
          }),
        );
      },
    );
    await Promise.all([this.claimWatch.ready, this.volumeWatch.ready]);
  }

  private async onClaim(type: string, pvc: PvcObject): Promise<void> {
    const claim = claimFacts(pvc);
    if (type === 'DELETED') {
      this.cancelRetry(claim.namespace, claim.name);
      // Never provisioned: nothing for the PV controller to release, remove what we made.
      if (!claim.volumeName) await this.removeOwned(claim.namespace, claim.name, pvc.metadata!.uid!);
      return;
    }
    if (claim.bound || claim.volumeName || claim.deleting) return;
    const cls = claim.storageClassName
      ? ((await this.ctx.kube.find(
          'storage.k8s.io/v1',
          'StorageClass',
          undefined,
          claim.storageClassName,
        )) as StorageClass | undefined)
      : undefined;
    if (!takesClaim(claim, cls)) return;
    await this.provision(pvc, claim, cls!);
  }

  private async provision(pvc: PvcObject, claim: ClaimFacts, cls: StorageClass): Promise<void> {
    const uid = pvc.metadata!.uid!;
    if (this.provisioning.has(uid)) return;
    this.provisioning.add(uid);
    try {
      const plan = await this.plan(claim, cls);
      if ('message' in plan) {
        await this.refuse(pvc, claim, cls, plan);
        return;
      }
      if ('waiting' in plan) {
        this.ctx.log('volumes', 'claim waits for its image', {
          claim: `${claim.namespace}/${claim.name}`,
          message: plan.waiting,
        });
        this.scheduleRetry(claim.namespace, claim.name);
        return;
      }
      const here = this.location(claim.namespace, claim.name);
      try {
        if (plan.cloneOf) await cloneVolume(plan.cloneOf, here, uid, claim.volumeMode, claim.requestBytes);
        else {
          const image = plan.imageFile;
          await createVolume(
            here,
            uid,
            claim.volumeMode,
            claim.requestBytes,
            image
              ? (target) => cloneFile(image, claim.volumeMode === 'Block' ? target : join(target, BLOCK_FILE))
              : undefined,
          );
        }
      } catch (err) {
        // What the driver's CreateVolume would answer: an Internal error, reported and retried
        // (e.g. an image that does not fit a Filesystem volume: ENOSPC).
        await removeVolume(here).catch(() => undefined);
        const detail = err instanceof Error ? err.message : String(err);
        await this.refuse(pvc, claim, cls, { message: `rpc error: code = Internal desc = ${detail}` });
        return;
      }
      await this.createVolumeObject(pvc, claim, cls, plan.volumeMode);
      this.cancelRetry(claim.namespace, claim.name);
      this.ctx.log('volumes', 'volume provisioned', {
        claim: `${claim.namespace}/${claim.name}`,
        volume: `pvc-${uid}`,
        mode: claim.volumeMode,
        bytes: claim.requestBytes,
      });
    } finally {
      this.provisioning.delete(uid);
    }
  }

  /** The rules of external-provisioner and the driver, with the facts they read from the API. */
  private async plan(
    claim: ClaimFacts,
    cls: StorageClass,
  ): Promise<
    Refusal | { waiting: string } | { volumeMode: VolumeMode; cloneOf?: VolumeLocation; imageFile?: string }
  > {
    if (!claim.requestBytes) return { message: 'claim has no valid storage request' };
    let clone: { sourceBytes: number; volumeHandle: string } | undefined;
    let cloneOf: VolumeLocation | undefined;
    if (claim.dataSource) {
      if (claim.dataSource.kind !== 'PersistentVolumeClaim' || claim.dataSource.apiGroup)
        return { message: `unsupported dataSource kind ${claim.dataSource.kind}` };
      const srcPvc = (await this.ctx.kube.find(
        'v1',
        'PersistentVolumeClaim',
        claim.namespace,
        claim.dataSource.name,
      )) as PvcObject | undefined;
      const source = srcPvc ? claimFacts(srcPvc) : undefined;
      const srcPv = source?.volumeName
        ? ((await this.ctx.kube.find('v1', 'PersistentVolume', undefined, source.volumeName)) as
            PvObject | undefined)
        : undefined;
      const refusal = checkCloneSource(claim, {
        claim: source,
        volume: srcPv && {
          volumeMode: srcPv.spec?.volumeMode === 'Block' ? 'Block' : 'Filesystem',
          csiVolumeHandle: srcPv.spec?.csi?.volumeHandle,
        },
      });
      if (refusal) return refusal;
      clone = { sourceBytes: source!.requestBytes, volumeHandle: srcPv!.spec!.csi!.volumeHandle! };
      cloneOf = this.location(source!.namespace, source!.name);
    }
    let image: { rawFile: string; virtualBytes: number } | undefined;
    const imageId = claim.annotations[IMAGE_ID_ANNOTATION];
    if (imageId && !clone) {
      if (!this.imagePopulator) return { waiting: 'no image stand-in' };
      const r = await this.imagePopulator(imageId);
      if (!r.ready) return { waiting: r.message };
      image = r;
    }
    const refusal = createVolumeRefusal({
      driver: cls.provisioner!,
      parameters: cls.parameters ?? {},
      accessModes: claim.accessModes,
      volumeMode: claim.volumeMode,
      requestBytes: claim.requestBytes,
      clone,
      backingImageVirtualBytes: cls.parameters?.backingImage ? image?.virtualBytes : undefined,
    });
    if (refusal) return refusal;
    return { volumeMode: claim.volumeMode, cloneOf, imageFile: image?.rawFile };
  }

  private async createVolumeObject(pvc: PvcObject, claim: ClaimFacts, cls: StorageClass, mode: VolumeMode) {
    const uid = pvc.metadata!.uid!;
    try {
      await this.ctx.kube.create({
        apiVersion: 'v1',
        kind: 'PersistentVolume',
        metadata: { name: `pvc-${uid}`, annotations: { [PROVISIONED_BY_ANNOTATION]: cls.provisioner! } },
        spec: {
          capacity: { storage: pvc.spec?.resources?.requests?.storage ?? '1Gi' },
          accessModes: claim.accessModes,
          volumeMode: mode,
          persistentVolumeReclaimPolicy: cls.reclaimPolicy ?? 'Delete',
          storageClassName: cls.metadata!.name,
          claimRef: {
            apiVersion: 'v1',
            kind: 'PersistentVolumeClaim',
            namespace: claim.namespace,
            name: claim.name,
            uid,
          },
          csi: {
            driver: cls.provisioner!,
            volumeHandle: `pvc-${uid}`,
            ...(mode === 'Filesystem' ? { fsType: 'ext4' } : {}),
            volumeAttributes: cls.parameters ?? {},
          },
        },
      });
    } catch (err) {
      if (!isApiError(err, 409)) throw err;
    }
  }

  /** ProvisioningFailed as external-provisioner records it (once per distinct message), then a retry. */
  private async refuse(pvc: PvcObject, claim: ClaimFacts, cls: StorageClass, refusal: Refusal) {
    const message = provisioningFailedMessage(cls.metadata!.name!, refusal);
    const key = `${claim.namespace}/${claim.name}`;
    const state = this.retry.get(key);
    if (state?.lastMessage !== message) {
      this.ctx.log('volumes', 'provisioning failed', { claim: key, message });
      await this.ctx.kube.objects
        .create({
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { generateName: `${claim.name}.`, namespace: claim.namespace },
          involvedObject: {
            apiVersion: 'v1',
            kind: 'PersistentVolumeClaim',
            name: claim.name,
            namespace: claim.namespace,
            uid: pvc.metadata!.uid,
            resourceVersion: pvc.metadata!.resourceVersion,
          },
          type: 'Warning',
          reason: 'ProvisioningFailed',
          message,
          source: { component: `${cls.provisioner}_csi-provisioner` },
          reportingComponent: `${cls.provisioner}_csi-provisioner`,
          firstTimestamp: new Date(),
          lastTimestamp: new Date(),
          count: 1,
        })
        .catch((err: unknown) =>
          this.ctx.log('volumes', 'event not recorded', { claim: key, error: String(err) }),
        );
    }
    this.scheduleRetry(claim.namespace, claim.name, message);
  }

  /** Reclaim policy Delete of a released volume we provisioned: the data and the object go. */
  private async onVolume(pv: PvObject): Promise<void> {
    if (!pv.metadata?.annotations?.[PROVISIONED_BY_ANNOTATION]) return;
    if (pv.status?.phase !== 'Released' || pv.spec?.persistentVolumeReclaimPolicy !== 'Delete') return;
    const ref = pv.spec.claimRef;
    if (ref?.namespace && ref.name && ref.uid) await this.removeOwned(ref.namespace, ref.name, ref.uid);
    await this.ctx.kube.delete({ ...pv, apiVersion: 'v1', kind: 'PersistentVolume' });
    this.ctx.log('volumes', 'released volume deleted', { volume: pv.metadata.name });
  }

  private async removeOwned(ns: string, name: string, uid: string): Promise<void> {
    const here = this.location(ns, name);
    if ((await volumeOwner(here)) !== uid) return;
    await removeVolume(here);
    this.ctx.log('volumes', 'volume removed', { claim: `${ns}/${name}` });
  }

  private cancelRetry(ns: string, name: string): void {
    const key = `${ns}/${name}`;
    const t = this.retry.get(key)?.timer;
    if (t) clearTimeout(t);
    this.retry.delete(key);
  }

  private scheduleRetry(ns: string, name: string, lastMessage?: string): void {
    const key = `${ns}/${name}`;
    const state = this.retry.get(key) ?? { delayMs: RETRY_MIN_MS / 2 };
    if (state.timer) return;
    state.lastMessage = lastMessage ?? state.lastMessage;
    state.delayMs = lastMessage ? Math.min(RETRY_MAX_MS, state.delayMs * 2) : RETRY_MIN_MS;
    state.timer = setTimeout(() => {
      state.timer = undefined;
      void this.ctx.kube
        .find('v1', 'PersistentVolumeClaim', ns, name)
        .then((p) => (p ? this.onClaim('MODIFIED', p as PvcObject) : undefined))
        .catch(() => undefined);
    }, state.delayMs);
    this.retry.set(key, state);
  }

  /** For the pod runner: a message when one of the pod's claims is not bound (yet) or is used in the wrong mode. */
  async claimsNotReady(namespace: string, spec: PodSpec): Promise<string | undefined> {
    const containers = spec.containers ?? [];
    const asDevice = new Set(containers.flatMap((c) => (c.volumeDevices ?? []).map((d) => d.name)));
    const asMount = new Set(containers.flatMap((c) => (c.volumeMounts ?? []).map((m) => m.name)));
    for (const v of spec.volumes ?? []) {
      const claim = v.persistentVolumeClaim?.claimName;
      if (!claim) continue;
      const pvc = (await this.ctx.kube.find('v1', 'PersistentVolumeClaim', namespace, claim)) as
        PvcObject | undefined;
      if (!pvc) return `persistentvolumeclaim "${claim}" not found`;
      if (pvc.status?.phase !== 'Bound') return `persistentvolumeclaim "${claim}" is not bound`;
      // kubelet pkg/kubelet/volumemanager/populator/desired_state_of_world_populator.go: the
      // claim's volume mode decides how a container may use it.
      const mode = pvc.spec?.volumeMode === 'Block' ? 'Block' : 'Filesystem';
      if (mode === 'Block' && asMount.has(v.name))
        return `volume ${v.name} has volumeMode Block, but is specified in volumeMounts`;
      if (mode === 'Filesystem' && asDevice.has(v.name))
        return `volume ${v.name} has volumeMode Filesystem, but is specified in volumeDevices`;
    }
    return undefined;
  }

  async stop(): Promise<void> {
    this.claimWatch?.stop();
    this.volumeWatch?.stop();
    for (const s of this.retry.values()) if (s.timer) clearTimeout(s.timer);
    this.retry.clear();
    await releaseAll(this.ctx.paths.volumes, this.dataDiskPath).catch((err: unknown) =>
      this.ctx.log('volumes', 'releasing volumes failed', { error: String(err) }),
    );
  }
}
