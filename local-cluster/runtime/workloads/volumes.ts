// The CSI stand-in: a PersistentVolumeClaim is a directory .local/volumes/<ns>/<claim>/.
// Claims of a StorageClass with volumeBindingMode Immediate (or of the default class) are bound
// at once; WaitForFirstConsumer claims are bound when a pod that uses them starts. A claim
// annotated harvesterhci.io/imageId is bound only once that Harvester image is imported, with
// the image's content as disk.img in its directory (reflinked or sparse-copied). The directory
// goes away with the claim.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { RuntimeContext } from '../context.ts';
import { isApiError, type KubeObject, type ListWatchHandle } from '../kube.ts';
import type { PodSpec } from './container-spec.ts';

export const IMAGE_ID_ANNOTATION = 'harvesterhci.io/imageId';
export const DEFAULT_CLASS_ANNOTATION = 'storageclass.kubernetes.io/is-default-class';

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

/** Populates a claim from an image; resolves false when the image is not ready yet (message set). */
export type ImagePopulator = (
  pvc: PvcObject,
  imageId: string,
  volumeDir: string,
) => Promise<{ ready: true } | { ready: false; message: string }>;

export class VolumeClaims {
  private watch?: ListWatchHandle;
  private imagePopulator?: ImagePopulator;
  private readonly retry = new Map<string, NodeJS.Timeout>();
  private readonly binding = new Set<string>();

  constructor(private readonly ctx: RuntimeContext) {}

  setImagePopulator(p: ImagePopulator): void {
    this.imagePopulator = p;
  }

  volumeDir(namespace: string, claim: string): string {
    return join(this.ctx.paths.volumes, namespace, claim);
  }

  async start(): Promise<void> {
    this.watch = this.ctx.kube.listWatch(
      { apiVersion: 'v1', kind: 'PersistentVolumeClaim', emitListed: true },
      (type, obj) => {
        void this.onClaim(type, obj as PvcObject).catch((err: unknown) =>
          this.ctx.log('volumes', 'claim handling failed', { claim: obj.metadata?.name, error: String(err) }),
        );
      },
    );
    await this.watch.ready;
  }

  private key(ns: string, name: string): string {
    return `${ns}/${name}`;
  }

  private async onClaim(type: string, pvc: PvcObject): Promise<void> {
    const ns = pvc.metadata!.namespace ?? 'default';
    const name = pvc.metadata!.name!;
    if (type === 'DELETED') {
      const t = this.retry.get(this.key(ns, name));
      if (t) clearTimeout(t);
      this.retry.delete(this.key(ns, name));
      await rm(this.volumeDir(ns, name), { recursive: true, force: true });
      this.ctx.log('volumes', 'claim deleted, volume removed', { claim: `${ns}/${name}` });
      return;
    }
    if (pvc.status?.phase === 'Bound' || pvc.metadata?.deletionTimestamp) return;
    const mode = await this.bindingMode(pvc);
    if (mode === 'WaitForFirstConsumer' && !pvc.metadata?.annotations?.[IMAGE_ID_ANNOTATION]) return;
    await this.bind(pvc);
  }

  private async storageClass(pvc: PvcObject): Promise<KubeObject | undefined> {
    const scName = pvc.spec?.storageClassName;
    if (scName) return this.ctx.kube.get('storage.k8s.io/v1', 'StorageClass', scName);
    const { items } = await this.ctx.kube.list('storage.k8s.io/v1', 'StorageClass');
    return items.find((sc) => sc.metadata?.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true');
  }

  private async bindingMode(pvc: PvcObject): Promise<string> {
    const sc = await this.storageClass(pvc);
    return ((sc as { volumeBindingMode?: string } | undefined)?.volumeBindingMode ?? 'Immediate') as string;
  }

  /** Binds the claim (creating its directory); returns a reason when it cannot be bound yet. */
  async bind(pvc: PvcObject): Promise<string | undefined> {
    const ns = pvc.metadata!.namespace ?? 'default';
    const name = pvc.metadata!.name!;
    const key = this.key(ns, name);
    if (this.binding.has(key)) return 'binding in progress';
    this.binding.add(key);
    try {
      const dir = this.volumeDir(ns, name);
      await mkdir(dir, { recursive: true });
      const imageId = pvc.metadata?.annotations?.[IMAGE_ID_ANNOTATION];
      if (imageId) {
        if (!this.imagePopulator) return 'no image controller is running';
        const r = await this.imagePopulator(pvc, imageId, dir);
        if (!r.ready) {
          this.scheduleRetry(ns, name);
          await this.writePending(pvc, r.message);
          return r.message;
        }
      }
      const sc = await this.storageClass(pvc);
      if (!sc && pvc.spec?.storageClassName) {
        const msg = `storageclass.storage.k8s.io "${pvc.spec.storageClassName}" not found`;
        this.scheduleRetry(ns, name);
        await this.writePending(pvc, msg);
        return msg;
      }
      const volumeName = `pvc-${pvc.metadata!.uid}`;
      const latest = (await this.ctx.kube.get('v1', 'PersistentVolumeClaim', name, ns)) as
        PvcObject | undefined;
      if (!latest || latest.metadata?.uid !== pvc.metadata?.uid) return 'claim is gone';
      if (latest.status?.phase === 'Bound') return undefined;
      if (!latest.spec?.volumeName) {
        await this.ctx.kube.mergePatch({
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          metadata: {
            name,
            namespace: ns,
            annotations: {
              'pv.kubernetes.io/bind-completed': 'yes',
              'pv.kubernetes.io/bound-by-controller': 'yes',
              'volume.kubernetes.io/storage-provisioner': 'local.vm-import.harvesterhci.io',
            },
          },
          spec: {
            volumeName,
            ...(sc && !latest.spec?.storageClassName ? { storageClassName: sc.metadata!.name } : {}),
          },
        });
      }
      await this.writeStatus(ns, name, {
        phase: 'Bound',
        accessModes: latest.spec?.accessModes ?? ['ReadWriteOnce'],
        capacity: { storage: latest.spec?.resources?.requests?.storage ?? '1Gi' },
      });
      this.ctx.log('volumes', 'claim bound', { claim: `${ns}/${name}`, dir });
      return undefined;
    } finally {
      this.binding.delete(key);
    }
  }

  private scheduleRetry(ns: string, name: string): void {
    const key = this.key(ns, name);
    if (this.retry.has(key)) return;
    this.retry.set(
      key,
      setTimeout(() => {
        this.retry.delete(key);
        void this.ctx.kube
          .get('v1', 'PersistentVolumeClaim', name, ns)
          .then((p) => (p ? this.onClaim('MODIFIED', p as PvcObject) : undefined))
          .catch(() => undefined);
      }, 1000),
    );
  }

  private async writePending(pvc: PvcObject, message: string): Promise<void> {
    this.ctx.log('volumes', 'claim pending', {
      claim: `${pvc.metadata?.namespace}/${pvc.metadata?.name}`,
      message,
    });
  }

  private async writeStatus(ns: string, name: string, status: Record<string, unknown>): Promise<void> {
    for (let i = 0; i < 5; i++) {
      const cur = await this.ctx.kube.get('v1', 'PersistentVolumeClaim', name, ns);
      if (!cur) return;
      try {
        await this.ctx.kube.replaceStatus({
          ...cur,
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          status,
        });
        return;
      } catch (err) {
        if (!isApiError(err, 409)) throw err;
      }
    }
  }

  /** For the pod runner: binds the pod's claims if needed; a message when one is not usable yet. */
  async claimsNotReady(namespace: string, spec: PodSpec): Promise<string | undefined> {
    for (const v of spec.volumes ?? []) {
      const claim = v.persistentVolumeClaim?.claimName;
      if (!claim) continue;
      const pvc = (await this.ctx.kube.get('v1', 'PersistentVolumeClaim', claim, namespace)) as
        PvcObject | undefined;
      if (!pvc) return `persistentvolumeclaim "${claim}" not found`;
      if (pvc.status?.phase === 'Bound') continue;
      const why = await this.bind(pvc);
      if (why) return `persistentvolumeclaim "${claim}" is not bound: ${why}`;
    }
    return undefined;
  }

  stop(): void {
    this.watch?.stop();
    for (const t of this.retry.values()) clearTimeout(t);
    this.retry.clear();
  }
}
