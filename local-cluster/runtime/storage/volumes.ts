// The storage stand-in: plays the external provisioner of every StorageClass (a CSI driver's
// external-provisioner sidecar) next to kube-controller-manager's real PV controller. A volume
// is a directory .local/volumes/<ns>/<claim>/.
//
// As kubernetes-csi/external-provisioner does (controller/controller.go, shouldProvision and
// provisionClaimOperation): a claim is provisioned once the PV controller has annotated it with
// `volume.kubernetes.io/storage-provisioner` and, for a WaitForFirstConsumer class, once the
// scheduler has chosen a node (`volume.kubernetes.io/selected-node`); the provisioner then creates
// a PersistentVolume whose claimRef names the claim, and the PV controller binds the two. A claim
// annotated harvesterhci.io/imageId gets that Harvester image's content as disk.img first (the
// image must be imported). When a claim is deleted, the PV controller releases the volume; with
// reclaimPolicy Delete the provisioner removes the directory and the PersistentVolume.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RuntimeContext } from '../context.ts';
import { isApiError, type KubeObject, type ListWatchHandle } from '../../../functions/shared/kube/client.ts';
import type { PodSpec } from '../node-agent/container-spec.ts';

export const IMAGE_ID_ANNOTATION = 'harvesterhci.io/imageId';
const PROVISIONER_ANNOTATION = 'volume.kubernetes.io/storage-provisioner';
const BETA_PROVISIONER_ANNOTATION = 'volume.beta.kubernetes.io/storage-provisioner';
const SELECTED_NODE_ANNOTATION = 'volume.kubernetes.io/selected-node';
const PROVISIONED_BY_ANNOTATION = 'pv.kubernetes.io/provisioned-by';
/** The claim a volume directory was made for (a claim re-created under the same name gets a new one). */
const CLAIM_UID_FILE = '.claim-uid';

export type PvcObject = KubeObject & {
  spec?: {
    storageClassName?: string;
    volumeName?: string;
    accessModes?: string[];
    volumeMode?: string;
    resources?: { requests?: { storage?: string } };
  };
  status?: { phase?: string; capacity?: Record<string, string>; accessModes?: string[] };
};

type StorageClass = KubeObject & { provisioner?: string; reclaimPolicy?: string; volumeBindingMode?: string };

type PvObject = KubeObject & {
  spec?: {
    persistentVolumeReclaimPolicy?: string;
    claimRef?: { namespace?: string; name?: string; uid?: string };
  };
  status?: { phase?: string };
};

/** Populates a claim from an image; resolves false when the image is not ready yet (message set). */
export type ImagePopulator = (
  pvc: PvcObject,
  imageId: string,
  volumeDir: string,
) => Promise<{ ready: true } | { ready: false; message: string }>;

export class VolumeClaims {
  private claimWatch?: ListWatchHandle;
  private volumeWatch?: ListWatchHandle;
  private imagePopulator?: ImagePopulator;
  private readonly retry = new Map<string, NodeJS.Timeout>();
  private readonly provisioning = new Set<string>();

  constructor(private readonly ctx: RuntimeContext) {}

  setImagePopulator(p: ImagePopulator): void {
    this.imagePopulator = p;
  }

  volumeDir(namespace: string, claim: string): string {
    return join(this.ctx.paths.volumes, namespace, claim);
  }

  async start(): Promise<void> {
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
    const ns = pvc.metadata!.namespace ?? 'default';
    const name = pvc.metadata!.name!;
    if (type === 'DELETED') {
      this.cancelRetry(ns, name);
      // Never provisioned: nothing for the PV controller to release, remove what we made.
      if (!pvc.spec?.volumeName) await this.removeDir(ns, name, pvc.metadata!.uid!);
      return;
    }
    if (pvc.status?.phase === 'Bound' || pvc.spec?.volumeName || pvc.metadata?.deletionTimestamp) return;
    const annotations = pvc.metadata?.annotations ?? {};
    const provisioner = annotations[PROVISIONER_ANNOTATION] ?? annotations[BETA_PROVISIONER_ANNOTATION];
    if (!provisioner) return; // the PV controller has not handed it to an external provisioner yet
    const cls = pvc.spec?.storageClassName
      ? ((await this.ctx.kube.find(
          'storage.k8s.io/v1',
          'StorageClass',
          undefined,
          pvc.spec.storageClassName,
        )) as StorageClass | undefined)
      : undefined;
    if (!cls || cls.provisioner !== provisioner) return;
    if (cls.volumeBindingMode === 'WaitForFirstConsumer' && !annotations[SELECTED_NODE_ANNOTATION]) return;
    await this.provision(pvc, cls);
  }

  private async provision(pvc: PvcObject, cls: StorageClass): Promise<void> {
    const ns = pvc.metadata!.namespace ?? 'default';
    const name = pvc.metadata!.name!;
    const uid = pvc.metadata!.uid!;
    if (this.provisioning.has(uid)) return;
    this.provisioning.add(uid);
    try {
      const dir = this.volumeDir(ns, name);
      const owner = await readFile(join(dir, CLAIM_UID_FILE), 'utf8').catch(() => undefined);
      if (owner !== uid) {
        // A directory left by an earlier claim of this name whose volume is not reclaimed yet.
        await rm(dir, { recursive: true, force: true });
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, CLAIM_UID_FILE), uid);
      }
      const imageId = pvc.metadata?.annotations?.[IMAGE_ID_ANNOTATION];
      if (imageId) {
        if (!this.imagePopulator) return;
        const r = await this.imagePopulator(pvc, imageId, dir);
        if (!r.ready) {
          this.ctx.log('volumes', 'claim waits for its image', {
            claim: `${ns}/${name}`,
            message: r.message,
          });
          this.scheduleRetry(ns, name);
          return;
        }
      }
      try {
        await this.ctx.kube.create({
          apiVersion: 'v1',
          kind: 'PersistentVolume',
          metadata: { name: `pvc-${uid}`, annotations: { [PROVISIONED_BY_ANNOTATION]: cls.provisioner! } },
          spec: {
            capacity: { storage: pvc.spec?.resources?.requests?.storage ?? '1Gi' },
            accessModes: pvc.spec?.accessModes ?? ['ReadWriteOnce'],
            volumeMode: pvc.spec?.volumeMode ?? 'Filesystem',
            persistentVolumeReclaimPolicy: cls.reclaimPolicy ?? 'Delete',
            storageClassName: cls.metadata!.name,
            claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: ns, name, uid },
            csi: { driver: cls.provisioner!, volumeHandle: `pvc-${uid}` },
          },
        });
      } catch (err) {
        if (!isApiError(err, 409)) throw err;
      }
      this.ctx.log('volumes', 'volume provisioned', { claim: `${ns}/${name}`, volume: `pvc-${uid}`, dir });
    } finally {
      this.provisioning.delete(uid);
    }
  }

  /** Reclaim policy Delete of a released volume we provisioned: the data and the object go. */
  private async onVolume(pv: PvObject): Promise<void> {
    if (!pv.metadata?.annotations?.[PROVISIONED_BY_ANNOTATION]) return;
    if (pv.status?.phase !== 'Released' || pv.spec?.persistentVolumeReclaimPolicy !== 'Delete') return;
    const ref = pv.spec.claimRef;
    if (ref?.namespace && ref.name && ref.uid) await this.removeDir(ref.namespace, ref.name, ref.uid);
    await this.ctx.kube.delete({ ...pv, apiVersion: 'v1', kind: 'PersistentVolume' });
    this.ctx.log('volumes', 'released volume deleted', { volume: pv.metadata.name });
  }

  private async removeDir(ns: string, name: string, uid: string): Promise<void> {
    const dir = this.volumeDir(ns, name);
    const owner = await readFile(join(dir, CLAIM_UID_FILE), 'utf8').catch(() => undefined);
    if (owner !== uid) return;
    await rm(dir, { recursive: true, force: true });
    this.ctx.log('volumes', 'volume removed', { claim: `${ns}/${name}` });
  }

  private cancelRetry(ns: string, name: string): void {
    const key = `${ns}/${name}`;
    const t = this.retry.get(key);
    if (t) clearTimeout(t);
    this.retry.delete(key);
  }

  private scheduleRetry(ns: string, name: string): void {
    const key = `${ns}/${name}`;
    if (this.retry.has(key)) return;
    this.retry.set(
      key,
      setTimeout(() => {
        this.retry.delete(key);
        void this.ctx.kube
          .find('v1', 'PersistentVolumeClaim', ns, name)
          .then((p) => (p ? this.onClaim('MODIFIED', p as PvcObject) : undefined))
          .catch(() => undefined);
      }, 1000),
    );
  }

  /** For the pod runner: a message when one of the pod's claims is not bound (yet). */
  async claimsNotReady(namespace: string, spec: PodSpec): Promise<string | undefined> {
    for (const v of spec.volumes ?? []) {
      const claim = v.persistentVolumeClaim?.claimName;
      if (!claim) continue;
      const pvc = (await this.ctx.kube.find('v1', 'PersistentVolumeClaim', namespace, claim)) as
        PvcObject | undefined;
      if (!pvc) return `persistentvolumeclaim "${claim}" not found`;
      if (pvc.status?.phase !== 'Bound') return `persistentvolumeclaim "${claim}" is not bound`;
    }
    return undefined;
  }

  stop(): void {
    this.claimWatch?.stop();
    this.volumeWatch?.stop();
    for (const t of this.retry.values()) clearTimeout(t);
    this.retry.clear();
  }
}
