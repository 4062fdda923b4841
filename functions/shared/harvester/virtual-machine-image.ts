// Harvester VirtualMachineImage (harvesterhci.io/v1beta1): one per exported disk (as upstream's
// checkAndCreateVirtualMachineImage), and how to read its state across Harvester versions: upstream
// saw a failure only as Imported=False with reason ImportFailed, which Harvester ≥ 1.2 never sets
// (it sets RetryLimitExceeded=True), so failed images left the import waiting forever.
import { importOwnerReference } from '../import-objects.ts';
import { labelValue } from '../naming.ts';
import {
  ANNOTATION_IMAGE_STORAGE_CLASS,
  LABEL_DISK_INDEX,
  LABEL_IMAGE_DISPLAY_NAME,
  LABEL_IMPORTED,
  LABEL_IMPORT_NAME,
  LABEL_IMPORT_UID,
} from '../labels.ts';

export const IMAGE_API_VERSION = 'harvesterhci.io/v1beta1';
export const IMAGE_KIND = 'VirtualMachineImage';
/**
 * Download attempts Harvester makes before it gives up (its CRD default). Set explicitly:
 * upstream's Go client sent 0, so Harvester never retried.
 */
export const DEFAULT_IMAGE_RETRY = 3;

export type ImageBackend = 'backingimage' | 'cdi';

export interface VirtualMachineImageManifest {
  apiVersion: typeof IMAGE_API_VERSION;
  kind: typeof IMAGE_KIND;
  metadata: {
    generateName: string;
    namespace: string;
    labels: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences: ReturnType<typeof importOwnerReference>[];
  };
  spec: {
    displayName: string;
    sourceType: 'download';
    url: string;
    retry: number;
    backend?: ImageBackend;
    targetStorageClassName?: string;
  };
}

export interface BuildImageInput {
  namespace: string;
  importName: string;
  importUid: string;
  diskIndex: number;
  /** URL of the disk on the import's disk server. */
  url: string;
  /** spec.storageClass of the import; unset = Harvester's default for images. */
  storageClassName?: string;
  /** From imageDisplayName(). */
  displayName: string;
  /**
   * Harvester ≥ 1.4 backend. Upstream picks `backingimage` for Longhorn v1 classes and `cdi` for
   * any other provisioner; that needs the StorageClass, so the caller decides. Unset =
   * Harvester's webhook default (backingimage).
   */
  backend?: ImageBackend;
  /** Harvester download attempts; default 3. */
  retry?: number;
}

/** The image for one disk. `generateName: image-`: the API server picks the name. */
export function buildVirtualMachineImage(input: BuildImageInput): VirtualMachineImageManifest {
  const image: VirtualMachineImageManifest = {
    apiVersion: IMAGE_API_VERSION,
    kind: IMAGE_KIND,
    metadata: {
      generateName: 'image-',
      namespace: input.namespace,
      labels: {
        [LABEL_IMAGE_DISPLAY_NAME]: labelValue(input.displayName),
        [LABEL_IMPORTED]: 'true',
        [LABEL_IMPORT_NAME]: labelValue(input.importName),
        [LABEL_IMPORT_UID]: labelValue(input.importUid),
        [LABEL_DISK_INDEX]: String(input.diskIndex),
      },
      ownerReferences: [importOwnerReference({ name: input.importName, uid: input.importUid })],
    },
    spec: {
      displayName: input.displayName,
      sourceType: 'download',
      url: input.url,
      retry: input.retry ?? DEFAULT_IMAGE_RETRY,
    },
  };
  if (input.storageClassName) {
    // Harvester's mutating webhook copies this class's parameters into spec.storageClassParameters
    // (the image's own backing-image StorageClass); ≥ 1.4 reads targetStorageClassName.
    image.metadata.annotations = { [ANNOTATION_IMAGE_STORAGE_CLASS]: input.storageClassName };
    image.spec.targetStorageClassName = input.storageClassName;
  }
  if (input.backend) image.spec.backend = input.backend;
  return image;
}

/** The parts of a VirtualMachineImage that imageState() reads (any Harvester version). */
export interface ImageLike {
  metadata?: { name?: string; deletionTimestamp?: string | null };
  spec?: { retry?: number | null; backend?: string | null; targetStorageClassName?: string | null };
  status?: {
    progress?: number | null;
    failed?: number | null;
    size?: number | null;
    virtualSize?: number | null;
    storageClassName?: string | null;
    conditions?: ImageCondition[] | null;
  } | null;
}

export interface ImageCondition {
  type: string;
  status: string;
  reason?: string | null;
  message?: string | null;
}

export type ImagePhase = 'pending' | 'importing' | 'ready' | 'failed';

export interface ImageState {
  state: ImagePhase;
  /** 0–100 while importing (Harvester reports 99 until the backing image is ready), 100 when ready. */
  progress?: number;
  /** Harvester's own words: the error for failures, retry attempts while importing. */
  message?: string;
  /**
   * Only meaningful for `failed`: whether creating the image again may succeed. False when the
   * disk server answered 4xx (the file is gone or refused) or the checksum did not match.
   */
  retryable: boolean;
}

const PERMANENT_FAILURE = [
  /\b4\d\d status code\b/i,
  /status code:? ?4\d\d\b/i,
  /\b4\d\d (not found|forbidden|unauthorized|gone)\b/i,
  /checksum/i,
];

function condition(image: ImageLike, type: string): ImageCondition | undefined {
  return image.status?.conditions?.find((c) => c.type === type);
}

function failed(message: string | undefined): ImageState {
  const text = message || 'Harvester could not import the image';
  return { state: 'failed', message: text, retryable: !PERMANENT_FAILURE.some((re) => re.test(text)) };
}

/**
 * State of an image as every Harvester from 1.1 to 1.8 reports it:
 * - ready: `Imported=True` (Harvester clears `RetryLimitExceeded` then);
 * - failed: `RetryLimitExceeded=True` (≥ 1.2: all `spec.retry` attempts failed), `Imported=False`
 *   (≤ 1.1 with reason `ImportFailed`; ≥ 1.2 together with RetryLimitExceeded; `UploadFailed`),
 *   `Initialized=False` (the URL check failed), `BackingImageMissing=True`, `status.failed` over
 *   `spec.retry`, or the image being deleted;
 * - importing: `Initialized=True` or `Imported=Unknown`, including between failed attempts
 *   (`status.failed` > 0, `RetryLimitExceeded=False` on ≥ 1.4, whose message is reported);
 * - pending: nothing reported yet.
 */
export function imageState(image: ImageLike): ImageState {
  if (image.metadata?.deletionTimestamp) return failed('the VirtualMachineImage is being deleted');
  const imported = condition(image, 'Imported');
  const initialized = condition(image, 'Initialized');
  const retryLimit = condition(image, 'RetryLimitExceeded');
  const missing = condition(image, 'BackingImageMissing');

  if (imported?.status === 'True' && missing?.status !== 'True') {
    return { state: 'ready', progress: 100, retryable: false };
  }
  if (retryLimit?.status === 'True') {
    return failed(imported?.message || initialized?.message || retryLimit.message || undefined);
  }
  if (imported?.status === 'False') return failed(imported.message || imported.reason || undefined);
  if (initialized?.status === 'False') return failed(initialized.message || initialized.reason || undefined);
  if (missing?.status === 'True')
    return failed(missing.message || 'the backing image of the VirtualMachineImage is missing');
  const attempts = image.status?.failed ?? 0;
  const retry = image.spec?.retry ?? DEFAULT_IMAGE_RETRY;
  if (attempts > retry) {
    return failed(
      `all ${attempts} download attempts failed${imported?.message ? `: ${imported.message}` : ''}`,
    );
  }

  if (initialized?.status === 'True' || imported?.status === 'Unknown') {
    const progress = Math.min(100, Math.max(0, image.status?.progress ?? 0));
    const retrying =
      attempts > 0
        ? retryLimit?.message || `attempt ${attempts} of ${retry + 1} failed, retrying`
        : undefined;
    const message = retrying ?? (imported?.message || undefined);
    return { state: 'importing', progress, ...(message ? { message } : {}), retryable: false };
  }
  return { state: 'pending', retryable: false };
}

/**
 * Size for the volume made from an image: the image's virtual size (Harvester ≥ 1.4), never less
 * than the source disk's virtual size. Harvester 1.2–1.3 report only status.size, the size of the
 * downloaded file — a qcow2 of a sparse disk is smaller than the disk (harvester
 * pkg/apis/harvesterhci.io/v1beta1/image.go has no VirtualSize before v1.4.0).
 */
export function imageVolumeSizeBytes(image: ImageLike, sourceVirtualSizeBytes?: number): number | undefined {
  const reported = image.status?.virtualSize || image.status?.size || 0;
  const size = Math.max(reported, sourceVirtualSizeBytes ?? 0);
  return size > 0 ? size : undefined;
}

/** The backend Harvester gave the image (its mutator defaults an empty one to backingimage; < 1.5 has only that). */
export function imageBackend(image: { spec?: { backend?: string | null } }): ImageBackend {
  return image.spec?.backend === 'cdi' ? 'cdi' : 'backingimage';
}

/**
 * StorageClass for volumes made from an image: for a backing image Harvester reports it in
 * status.storageClassName and names it `longhorn-<image name>`; a cdi image's volume is in the
 * class the image was created for (spec.targetStorageClassName).
 */
export function imageStorageClassName(image: ImageLike): string | undefined {
  if (imageBackend(image) === 'cdi')
    return image.spec?.targetStorageClassName || image.status?.storageClassName || undefined;
  if (image.status?.storageClassName) return image.status.storageClassName;
  return image.metadata?.name ? `longhorn-${image.metadata.name}` : undefined;
}
