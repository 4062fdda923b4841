// Stand-in for Harvester's VirtualMachineImage controller (harvesterhci.io/v1beta1, sourceType
// download), following pkg/controller/master/image of Harvester >= 1.2:
//   * Initialized=True (reason Initialized), Imported=Unknown (reason Importing),
//     status.appliedUrl, status.storageClassName "longhorn-<name>" (a StorageClass is created);
//   * progress while downloading (100 is reported as 99 until done), then Imported=True
//     (reason Imported), status.size and status.virtualSize, progress 100;
//   * on failure: status.failed++, lastFailedTime, RetryLimitExceeded=False with message
//     "failed due to error: ..." ("retry attempted n/N ..."), a retry 10s later; once failed >
//     spec.retry (default 3): RetryLimitExceeded=True and Imported=False with the message.
// A download that breaks off (the disk server killed mid-body: fewer bytes than its Content-Length,
// or a reset) is a failure like any other, with no resume: Longhorn's backing-image data source
// downloads with one plain GET and fails the file on any copy error (longhorn/backing-image-manager
// pkg/sync/handler.go DownloadFromURL, no Range, no retry; Go's body reader reports a short body as
// unexpected EOF); Harvester turns the BackingImage's Failed into the image's failure
// (pkg/image/backingimage/backing_image_controller.go OnChanged → FailImported), its Check answers
// ErrRetryAble for a failed BackingImage (pkg/image/backingimage/backingimage.go) and the image is
// initialized again 10 s after lastFailedTime (pkg/controller/master/image/vm_image_controller.go
// handleRetry), until spec.retry; past it, vm-import's own resubmission takes over.
// The image is stored as raw bytes in .local/harvester/images/<ns>/<name>.raw (qcow2 and other
// formats qemu-img knows are converted to raw).
// Like Harvester's wrangler controller (pkg/controller/master/image/register.go OnRemove
// "vm-image-controller"), it holds the finalizer wrangler.cattle.io/vm-image-controller on every
// image and removes it only after its cleanup (file, StorageClass): a deleted image stays visible,
// display-name label included, until then. Admission rules: admission-webhook.ts.
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import axios from 'axios';
import type { RuntimeContext } from '../context.ts';
import { isApiError, type KubeObject, type ListWatchHandle } from '../../../functions/shared/kube/client.ts';
import type { ImagePopulator } from '../storage/volumes.ts';
import type { StorageClass } from '../storage/classes.ts';
import { dataVolumeProgress, fetchImageSizes, imageDataVolume } from './cdi-backend.ts';
import { setCondition, type ImageCondition } from './conditions.ts';
import { harvesterBehaviour, DEFAULT_HARVESTER_VERSION, type HarvesterBehaviour } from './versions.ts';

const run = promisify(execFile);

export type VmImage = KubeObject & {
  spec?: {
    url?: string;
    sourceType?: string;
    displayName?: string;
    retry?: number;
    storageClassParameters?: Record<string, string>;
    backend?: string;
    targetStorageClassName?: string;
  };
  status?: {
    progress?: number;
    size?: number;
    virtualSize?: number;
    storageClassName?: string;
    appliedUrl?: string;
    failed?: number;
    lastFailedTime?: string;
    conditions?: ImageCondition[];
  };
};

const RETRY_DELAY_MS = 10_000;
/** pkg/controller/master/image/vm_image_controller.go checkInterval: a cdi image's DataVolume is checked every second. */
const CDI_CHECK_INTERVAL_MS = 1000;
/** Delay before a failed decision about an image is taken again (requeue). */
const REQUEUE_DELAY_MS = 2000;
export const IMAGE_FINALIZER = 'wrangler.cattle.io/vm-image-controller';
const DEFAULT_RETRY = 3;

export function imageStorageClassName(name: string): string {
  return `longhorn-${name}`;
}

export class HarvesterImageController {
  private watch?: ListWatchHandle;
  private readonly active = new Map<string, AbortController>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private stopped = false;

  constructor(
    private readonly ctx: RuntimeContext,
    private readonly retryDelayMs = RETRY_DELAY_MS,
    private readonly harvester: HarvesterBehaviour = harvesterBehaviour(DEFAULT_HARVESTER_VERSION),
  ) {}

  imagePath(ns: string, name: string): string {
    return join(this.ctx.paths.harvesterImages, ns, `${name}.raw`);
  }

  async start(): Promise<void> {
    this.watch = this.ctx.kube.listWatch(
      { apiVersion: 'harvesterhci.io/v1beta1', kind: 'VirtualMachineImage', emitListed: true },
      (type, obj) =>
        void this.onImage(type, obj as VmImage).catch((err: unknown) => {
          const ns = obj.metadata?.namespace ?? 'default';
          this.requeue(`${ns}/${obj.metadata?.name}`, ns, obj.metadata!.name!, err);
        }),
    );
    await this.watch.ready;
  }

  private key(img: VmImage): string {
    return `${img.metadata!.namespace ?? 'default'}/${img.metadata!.name}`;
  }

  private async onImage(type: string, img: VmImage): Promise<void> {
    const key = this.key(img);
    const ns = img.metadata!.namespace ?? 'default';
    const name = img.metadata!.name!;
    if (type === 'DELETED' || img.metadata?.deletionTimestamp) {
      this.active.get(key)?.abort();
      this.active.delete(key);
      await rm(this.imagePath(ns, name), { force: true });
      // pkg/image/cdi/cdi.go Delete: the image's DataVolume goes with it (its claim by owner).
      if (img.spec?.backend === 'cdi')
        await this.ctx.kube.delete({
          apiVersion: 'cdi.kubevirt.io/v1beta1',
          kind: 'DataVolume',
          metadata: { name, namespace: ns },
        });
      await this.ctx.kube.delete({
        apiVersion: 'storage.k8s.io/v1',
        kind: 'StorageClass',
        metadata: { name: imageStorageClassName(name) },
      });
      if (type !== 'DELETED' && img.metadata?.finalizers?.includes(IMAGE_FINALIZER))
        await this.setFinalizer(ns, name, false);
      return;
    }
    if (!img.metadata?.finalizers?.includes(IMAGE_FINALIZER)) {
      // The update's watch event brings the image back.
      await this.setFinalizer(ns, name, true);
      return;
    }
    if (img.spec?.sourceType !== 'download') return;
    const conds = img.status?.conditions ?? [];
    const imported = conds.find((c) => c.type === 'Imported');
    const limit = conds.find((c) => c.type === 'RetryLimitExceeded');
    if (imported?.status === 'True' || limit?.status === 'True') return;
    if (this.active.has(key) || this.timers.has(key)) return;
    if (img.status?.lastFailedTime) {
      const wait = Date.parse(img.status.lastFailedTime) + this.retryDelayMs - Date.now();
      if (wait > 0) {
        this.timers.set(
          key,
          setTimeout(() => this.recheck(key, ns, name), wait),
        );
        return;
      }
    }
    const abort = new AbortController();
    this.active.set(key, abort);
    try {
      if (this.harvester.imageBackend && img.spec?.backend === 'cdi') {
        // Decided again a second later from the current object (checkInterval), whatever happened:
        // the watch events of our own writes arrive while this check is still active.
        await this.checkCdiImage(img);
        this.timers.set(
          key,
          setTimeout(() => this.recheck(key, ns, name), CDI_CHECK_INTERVAL_MS),
        );
        return;
      }
      await this.importImage(img, abort.signal);
    } finally {
      this.active.delete(key);
    }
    // Level-triggered: the watch event of our own status write may have arrived while the import
    // was still active (and was ignored); decide again from the current object.
    if (abort.signal.aborted) return;
    const current = await this.ctx.kube.find('harvesterhci.io/v1beta1', 'VirtualMachineImage', ns, name);
    if (current && current.metadata?.uid === img.metadata?.uid)
      await this.onImage('MODIFIED', current as VmImage);
  }

  private recheck(key: string, ns: string, name: string): void {
    this.timers.delete(key);
    void this.ctx.kube
      .find('harvesterhci.io/v1beta1', 'VirtualMachineImage', ns, name)
      .then((cur) => cur && this.onImage('MODIFIED', cur as VmImage))
      .catch((err: unknown) => this.requeue(key, ns, name, err));
  }

  /**
   * A decision that failed (the API server away or restarting, a conflict) is taken again later
   * from the current object, as controller-runtime's rate-limited requeue does for Harvester's
   * image controller; dropping it would leave the image importing for ever.
   */
  private requeue(key: string, ns: string, name: string, err: unknown): void {
    this.ctx.log('harvester', 'image handling failed; retrying', { image: key, error: String(err) });
    if (this.stopped || this.timers.has(key)) return;
    this.timers.set(
      key,
      setTimeout(() => this.recheck(key, ns, name), REQUEUE_DELAY_MS),
    );
  }

  /**
   * The cdi backend (pkg/image/cdi/cdi.go, driven by vm_image_controller.go processVMImage):
   * Check finds no DataVolume (NotFound is retryable) → Initialize: the URL's sizes first
   * (initializeDownload; a failure is FailInitial: failed++, and at the limit Initialized=False),
   * then status.size/virtualSize, then the DataVolume, then Initialized. With a DataVolume, Check
   * copies its progress (Importing) until it is Succeeded (Imported). A DataVolume that never
   * succeeds leaves the image importing: Harvester's Check does not look at its failures.
   */
  private async checkCdiImage(img: VmImage): Promise<void> {
    const ns = img.metadata!.namespace ?? 'default';
    const name = img.metadata!.name!;
    const dv = (await this.ctx.kube.find('cdi.kubevirt.io/v1beta1', 'DataVolume', ns, name)) as
      (KubeObject & { status?: { phase?: string; progress?: string } }) | undefined;
    if (dv) {
      if (dv.status?.phase === 'Succeeded') {
        await this.update(ns, name, (cur) => {
          const now = new Date().toISOString();
          cur.status!.progress = 100;
          setCondition(cur.status!, {
            type: 'Imported',
            status: 'True',
            reason: 'Imported',
            message: '',
            lastUpdateTime: now,
          });
          setCondition(cur.status!, {
            type: 'RetryLimitExceeded',
            status: 'False',
            reason: '',
            message: '',
            lastUpdateTime: now,
          });
        });
        this.ctx.log('harvester', 'image imported', { image: `${ns}/${name}`, backend: 'cdi' });
        return;
      }
      const progress = dataVolumeProgress(dv.status?.progress);
      if (progress !== undefined && Math.min(progress, 99) !== img.status?.progress)
        await this.update(ns, name, (cur) => {
          cur.status!.progress = Math.min(progress, 99);
          setCondition(cur.status!, {
            type: 'Imported',
            status: 'Unknown',
            reason: 'Importing',
            message: 'Image Importing',
          });
        });
      return;
    }
    try {
      const url = img.spec?.url ?? '';
      let current = img;
      if (!img.status?.size && !img.status?.virtualSize) {
        const { size, virtualSize } = await fetchImageSizes(url, this.ctx.network.agents);
        current =
          (await this.update(ns, name, (cur) => {
            cur.status!.size = size;
            cur.status!.virtualSize = virtualSize;
          })) ?? img;
      }
      const className = img.spec?.targetStorageClassName ?? '';
      const sc = (await this.ctx.kube.find('storage.k8s.io/v1', 'StorageClass', undefined, className)) as
        StorageClass | undefined;
      if (!sc)
        throw new Error(
          `failed to get StorageClass ${className}: storageclasses.storage.k8s.io "${className}" not found`,
        );
      await this.ctx.kube.ensure(imageDataVolume(current, sc));
      this.ctx.log('harvester', 'DataVolume created', { image: `${ns}/${name}` });
      await this.update(ns, name, (cur) => {
        const now = new Date().toISOString();
        cur.status!.appliedUrl = url;
        cur.status!.storageClassName = className;
        cur.status!.progress = 0;
        setCondition(cur.status!, {
          type: 'Imported',
          status: 'Unknown',
          reason: 'Importing',
          lastUpdateTime: now,
        });
        setCondition(cur.status!, {
          type: 'Initialized',
          status: 'True',
          reason: 'Initialized',
          message: '',
          lastUpdateTime: now,
        });
      });
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      this.ctx.log('harvester', 'image initialization failed', { image: `${ns}/${name}`, error: msg });
      await this.recordFailure(ns, name, msg, 'Initialized');
    }
  }

  /** operator.go failStateTransit: failed++, lastFailedTime, RetryLimitExceeded; at the limit `cond` False too. */
  private async recordFailure(
    ns: string,
    name: string,
    msg: string,
    cond: 'Initialized' | 'Imported',
  ): Promise<void> {
    await this.update(ns, name, (cur) => {
      const now = new Date().toISOString();
      const st = cur.status!;
      st.failed = (st.failed ?? 0) + 1;
      st.lastFailedTime = now;
      const retry = cur.spec?.retry ?? DEFAULT_RETRY;
      let text = `failed due to error: ${msg}`;
      if (st.failed > 1) text = `retry attempted ${st.failed - 1}/${retry} ${text}`;
      if (st.failed > retry) {
        setCondition(st, { type: 'RetryLimitExceeded', status: 'True', message: text, lastUpdateTime: now });
        setCondition(st, { type: cond, status: 'False', message: text, lastUpdateTime: now });
      } else {
        setCondition(st, { type: 'RetryLimitExceeded', status: 'False', message: text, lastUpdateTime: now });
      }
    });
  }

  private async setFinalizer(ns: string, name: string, on: boolean): Promise<void> {
    for (let i = 0; i < 8; i++) {
      const cur = (await this.ctx.kube.find('harvesterhci.io/v1beta1', 'VirtualMachineImage', ns, name)) as
        VmImage | undefined;
      if (!cur) return;
      const rest = (cur.metadata!.finalizers ?? []).filter((f) => f !== IMAGE_FINALIZER);
      cur.metadata!.finalizers = on ? [...rest, IMAGE_FINALIZER] : rest;
      try {
        await this.ctx.kube.replace(cur);
        return;
      } catch (err) {
        if (!isApiError(err, 409)) throw err;
      }
    }
  }

  private async update(
    ns: string,
    name: string,
    mutate: (img: VmImage) => void,
  ): Promise<VmImage | undefined> {
    for (let i = 0; i < 8; i++) {
      const cur = (await this.ctx.kube.find('harvesterhci.io/v1beta1', 'VirtualMachineImage', ns, name)) as
        VmImage | undefined;
      if (!cur || cur.metadata?.deletionTimestamp) return undefined;
      cur.status = { ...(cur.status ?? {}) };
      mutate(cur);
      try {
        // Harvester's CRD has no status subresource: the controller updates the whole object.
        return (await this.ctx.kube.replace(cur)) as VmImage;
      } catch (err) {
        if (!isApiError(err, 409)) throw err;
      }
    }
    return undefined;
  }

  private async importImage(img: VmImage, signal: AbortSignal): Promise<void> {
    const ns = img.metadata!.namespace ?? 'default';
    const name = img.metadata!.name!;
    const url = img.spec?.url ?? '';
    const scName = imageStorageClassName(name);
    // Written on create by Harvester's mutating webhook (admission-rules.ts mutateImageCreate).
    const classParameters = img.spec?.storageClassParameters ?? {};
    await this.ctx.kube.ensure({
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: { name: scName, annotations: { 'harvesterhci.io/imageId': `${ns}/${name}` } },
      provisioner: 'driver.longhorn.io',
      allowVolumeExpansion: true,
      reclaimPolicy: 'Delete',
      volumeBindingMode: 'Immediate',
      // Harvester's image controller: the image's storageClassParameters plus its backing image.
      parameters: { ...classParameters, backingImage: `${ns}-${name}` },
    });
    await this.update(ns, name, (cur) => {
      const now = new Date().toISOString();
      cur.status!.appliedUrl = url;
      cur.status!.storageClassName = scName;
      cur.status!.progress = 0;
      setCondition(cur.status!, {
        type: 'Imported',
        status: 'Unknown',
        reason: 'Importing',
        lastUpdateTime: now,
      });
      setCondition(cur.status!, {
        type: 'Initialized',
        status: 'True',
        reason: 'Initialized',
        message: '',
        lastUpdateTime: now,
      });
    });
    const dir = join(this.ctx.paths.harvesterImages, ns);
    await mkdir(dir, { recursive: true });
    const download = join(dir, `.${name}.download`);
    const converted = join(dir, `.${name}.raw.tmp`);
    try {
      const res = await axios.get(url, {
        responseType: 'stream',
        signal,
        validateStatus: () => true,
        timeout: 60_000,
        // a disk server's URL is a cluster name, resolved by the cluster's DNS
        ...this.ctx.network.agents,
      });
      if (res.status !== 200) {
        res.data.destroy();
        throw new Error(`download ${url}: HTTP ${res.status}`);
      }
      const total = Number(res.headers['content-length'] ?? 0);
      let done = 0;
      let lastReported = -1;
      let lastAt = 0;
      const meter = new Transform({
        transform: (chunk: Buffer, _enc, cb) => {
          done += chunk.length;
          const pct = total > 0 ? Math.min(99, Math.floor((done * 100) / total)) : 0;
          if (pct !== lastReported && Date.now() - lastAt > 500) {
            lastReported = pct;
            lastAt = Date.now();
            void this.update(ns, name, (cur) => {
              cur.status!.progress = pct;
            }).catch(() => undefined);
          }
          cb(null, chunk);
        },
      });
      await pipeline(res.data, meter, createWriteStream(download), { signal });
      if (total > 0 && done !== total) throw new Error(`download ${url}: got ${done} of ${total} bytes`);
      const info = JSON.parse((await run('qemu-img', ['info', '--output=json', download])).stdout) as {
        format: string;
        'virtual-size': number;
      };
      if (info.format === 'raw') await rename(download, converted);
      else {
        await run('qemu-img', ['convert', '-f', info.format, '-O', 'raw', download, converted]);
        await rm(download, { force: true });
      }
      await rename(converted, this.imagePath(ns, name));
      const size = (await stat(this.imagePath(ns, name))).size;
      await this.update(ns, name, (cur) => {
        const now = new Date().toISOString();
        cur.status!.progress = 100;
        cur.status!.size = done;
        // Harvester < 1.4 has no status.virtualSize (versions.ts imageVirtualSize).
        if (this.harvester.imageVirtualSize) cur.status!.virtualSize = info['virtual-size'] ?? size;
        setCondition(cur.status!, {
          type: 'Imported',
          status: 'True',
          reason: 'Imported',
          message: '',
          lastUpdateTime: now,
        });
        setCondition(cur.status!, {
          type: 'RetryLimitExceeded',
          status: 'False',
          reason: '',
          message: '',
          lastUpdateTime: now,
        });
      });
      this.ctx.log('harvester', 'image imported', {
        image: `${ns}/${name}`,
        virtualSize: info['virtual-size'],
      });
    } catch (err) {
      await rm(download, { force: true });
      await rm(converted, { force: true });
      if (signal.aborted || this.stopped) return;
      const msg = err instanceof Error ? err.message : String(err);
      this.ctx.log('harvester', 'image import failed', { image: `${ns}/${name}`, error: msg });
      await this.recordFailure(ns, name, msg, 'Imported');
    }
  }

  /** For the provisioner: a claim annotated with this image gets its content (raw) once it is imported. */
  populator(): ImagePopulator {
    return async (imageId) => {
      const [ns, name] = imageId.split('/');
      if (!ns || !name) return { ready: false, message: `invalid image id "${imageId}"` };
      const img = (await this.ctx.kube.find('harvesterhci.io/v1beta1', 'VirtualMachineImage', ns, name)) as
        VmImage | undefined;
      if (!img) return { ready: false, message: `virtualmachineimage "${imageId}" not found` };
      const imported = img.status?.conditions?.find((c) => c.type === 'Imported');
      if (imported?.status !== 'True')
        return { ready: false, message: `image ${imageId} is not imported yet` };
      const rawFile = this.imagePath(ns, name);
      // Longhorn's backing image knows its virtual size whatever the Harvester version reports.
      return { ready: true, rawFile, virtualBytes: (await stat(rawFile)).size };
    };
  }

  stop(): void {
    this.stopped = true;
    this.watch?.stop();
    for (const a of this.active.values()) a.abort();
    for (const t of this.timers.values()) clearTimeout(t);
  }
}
