// The import's disk server and the VirtualMachineImages that download its disks: created by the
// images function, found again and resubmitted by image-status, read by vm and vm-status.
import { ApiException } from '@kubernetes/client-node';
import { ImportConditionType, ImportStatus, type DiskInfo, type VirtualMachineImport } from '../api/index.ts';
import { imageBackendFor, type StorageClassLike } from '../harvester/image-backend.ts';
import {
  IMAGE_API_VERSION,
  IMAGE_KIND,
  buildVirtualMachineImage,
  type ImageBackend,
} from '../harvester/virtual-machine-image.ts';
import type { StepOutcome } from '../phase-function.ts';
import { ATTEMPT_LABEL, LABEL_DISK_INDEX, TOKEN_ANNOTATION } from '../labels.ts';
import { importObjectNames, importUidSelector } from '../import-objects.ts';
import { apiErrorMessage, type Kube, type Obj } from '../kube/client.ts';
import { imageDisplayName } from '../naming.ts';
import { vmImportImage } from '../settings.ts';
import { diskServerManifests, diskUrl, newToken } from './workload.ts';

/** Ensures the disk server; returns its path token (kept in the Service so retries reuse it). */
export async function ensureDiskServer(kube: Kube, vmImport: VirtualMachineImport): Promise<string> {
  const names = importObjectNames(vmImport.metadata.name!);
  const existing = await kube.find<Obj>('v1', 'Service', vmImport.metadata.namespace, names.diskServer);
  const token = existing?.metadata?.annotations?.[TOKEN_ANNOTATION] ?? newToken();
  const { deployment, service, networkPolicy } = diskServerManifests(vmImport, token, vmImportImage());
  await kube.ensure(networkPolicy);
  await kube.ensure(deployment);
  if (!existing) await kube.ensure(service);
  return token;
}

const attemptOf = (image: Obj): number => Number(image.metadata?.labels?.[ATTEMPT_LABEL] ?? 1) || 1;

/** Every image of the import, those being deleted included. */
export async function allImages(kube: Kube, vmImport: VirtualMachineImport): Promise<Obj[]> {
  return kube.list<Obj>(
    IMAGE_API_VERSION,
    IMAGE_KIND,
    vmImport.metadata.namespace,
    importUidSelector(vmImport),
  );
}

/**
 * The import's current image per disk index: the latest attempt not being deleted (a resubmission
 * creates the next attempt before it deletes the failed one).
 */
export async function imagesByDisk(kube: Kube, vmImport: VirtualMachineImport): Promise<Map<number, Obj>> {
  const byDisk = new Map<number, Obj>();
  for (const image of await allImages(kube, vmImport)) {
    if (image.metadata?.deletionTimestamp) continue;
    const disk = Number(image.metadata?.labels?.[LABEL_DISK_INDEX]);
    const seen = byDisk.get(disk);
    if (!seen || attemptOf(image) > attemptOf(seen)) byDisk.set(disk, image);
  }
  return byDisk;
}

/**
 * Images of a disk that lost to the one the import's status records: two deliveries of one event
 * handled at once can each submit the same attempt (Harvester's display-name check reads an
 * informer cache, so both pass), and only one of them writes the status. Such an image has the
 * recorded image's attempt or an older one and another name; a newer attempt may still be on its
 * way into the status and is left alone.
 */
export async function strayImages(kube: Kube, vmImport: VirtualMachineImport): Promise<Obj[]> {
  const recorded = new Map(
    (vmImport.status?.diskImportStatus ?? []).map((d, index) => [index, d.VirtualMachineImage] as const),
  );
  const images = (await allImages(kube, vmImport)).filter((i) => !i.metadata?.deletionTimestamp);
  const byName = new Map(images.map((i) => [i.metadata?.name, i] as const));
  return images.filter((image) => {
    const name = recorded.get(Number(image.metadata?.labels?.[LABEL_DISK_INDEX]));
    const current = name ? byName.get(name) : undefined;
    return !!current && image.metadata?.name !== name && attemptOf(image) <= attemptOf(current);
  });
}

/** The highest attempt submitted per disk, images being deleted included (bounds resubmits). */
export async function attemptsByDisk(
  kube: Kube,
  vmImport: VirtualMachineImport,
): Promise<Map<number, number>> {
  const attempts = new Map<number, number>();
  for (const image of await allImages(kube, vmImport)) {
    const disk = Number(image.metadata?.labels?.[LABEL_DISK_INDEX]);
    attempts.set(disk, Math.max(attempts.get(disk) ?? 0, attemptOf(image)));
  }
  return attempts;
}

/**
 * The class the import's images land on — spec.storageClass, else the cluster's default class —
 * and the backend it needs (image-backend.ts). Unknown class: Harvester's defaults.
 */
export async function targetStorage(
  kube: Kube,
  vmImport: VirtualMachineImport,
): Promise<{ storageClassName?: string; backend?: ImageBackend }> {
  type Sc = Obj & StorageClassLike;
  const named = vmImport.spec.storageClass;
  // One list serves both cases (and needs one verb).
  const sc = (await kube.list<Sc>('storage.k8s.io/v1', 'StorageClass')).find((c) =>
    named
      ? c.metadata?.name === named
      : c.metadata?.annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true',
  );
  if (!sc) return named ? { storageClassName: named } : {};
  const backend = imageBackendFor(sc);
  // A Longhorn v1 default needs nothing: Harvester's defaults are exactly that.
  if (!named && backend === 'backingimage') return {};
  return { storageClassName: sc.metadata!.name!, backend };
}

/** Harvester's webhook refused the object: retrying the same request cannot help. */
export function admissionDenial(e: unknown): string | undefined {
  if (!(e instanceof ApiException)) return undefined;
  const message = apiErrorMessage(e);
  return /admission webhook .* denied the request/.test(message) || e.code === 422 ? message : undefined;
}

export async function submitImage(
  kube: Kube,
  vmImport: VirtualMachineImport,
  token: string,
  disk: DiskInfo,
  index: number,
  attempt = 1,
  target?: { storageClassName?: string; backend?: ImageBackend },
) {
  const storage = target ?? (await targetStorage(kube, vmImport));
  const manifest = buildVirtualMachineImage({
    namespace: vmImport.metadata.namespace ?? 'default',
    importName: vmImport.metadata.name!,
    importUid: vmImport.metadata.uid!,
    diskIndex: index,
    url: diskUrl(vmImport, token, disk.diskName ?? `disk-${index}.img`),
    displayName: imageDisplayName(vmImport.metadata.name!, index, {
      importUid: vmImport.metadata.uid,
      attempt,
    }),
    ...storage,
  });
  manifest.metadata.labels = { ...manifest.metadata.labels, [ATTEMPT_LABEL]: String(attempt) };
  return kube.create<Obj>(manifest as unknown as Obj);
}

/** The import fails: Harvester refused the image (e.g. a class its version cannot back images on). */
export function imageRefused(vmImport: VirtualMachineImport, message: string): StepOutcome {
  const text = `Harvester refused the VirtualMachineImage: ${message}; choose a storage class this Harvester can import into (README "Harvester versions") and re-create the import`;
  return {
    action: 'update',
    status: { ...(vmImport.status ?? {}), importStatus: ImportStatus.Failed },
    condition: {
      type: ImportConditionType.DiskImagesSubmitted,
      status: 'False',
      reason: 'ImageRefused',
      message: text,
    },
    event: { type: 'Warning', reason: 'ImageRefused', message: text },
  };
}
