// The import's disk server and the VirtualMachineImages that download its disks: created by the
// images function, found again and resubmitted by image-status, read by vm and vm-status.
import type { DiskInfo, VirtualMachineImport } from '../api/index.ts';
import {
  IMAGE_API_VERSION,
  IMAGE_KIND,
  buildVirtualMachineImage,
} from '../harvester/virtual-machine-image.ts';
import { ATTEMPT_LABEL, LABEL_DISK_INDEX, TOKEN_ANNOTATION } from '../labels.ts';
import { importObjectNames, importUidSelector } from '../import-objects.ts';
import type { Kube, Obj } from '../kube/client.ts';
import { imageDisplayName } from '../naming.ts';
import { vmImportImage } from '../settings.ts';
import { diskServerManifests, diskUrl, newToken } from './workload.ts';

/** Ensures the disk server; returns its path token (kept in the Service so retries reuse it). */
export async function ensureDiskServer(kube: Kube, imp: VirtualMachineImport): Promise<string> {
  const names = importObjectNames(imp.metadata.name!);
  const existing = await kube.find<Obj>('v1', 'Service', imp.metadata.namespace, names.diskServer);
  const token = existing?.metadata?.annotations?.[TOKEN_ANNOTATION] ?? newToken();
  const { deployment, service, networkPolicy } = diskServerManifests(imp, token, vmImportImage());
  await kube.ensure(networkPolicy);
  await kube.ensure(deployment);
  if (!existing) await kube.ensure(service);
  return token;
}

/** The import's images by disk index (labels carry the import uid and the disk index). */
export async function imagesByDisk(kube: Kube, imp: VirtualMachineImport): Promise<Map<number, Obj>> {
  const images = await kube.list<Obj>(
    IMAGE_API_VERSION,
    IMAGE_KIND,
    imp.metadata.namespace,
    importUidSelector(imp),
  );
  const byDisk = new Map<number, Obj>();
  for (const image of images) {
    if (image.metadata?.deletionTimestamp) continue;
    byDisk.set(Number(image.metadata?.labels?.[LABEL_DISK_INDEX]), image);
  }
  return byDisk;
}

export async function submitImage(
  kube: Kube,
  imp: VirtualMachineImport,
  token: string,
  disk: DiskInfo,
  index: number,
  attempt = 1,
) {
  const manifest = buildVirtualMachineImage({
    namespace: imp.metadata.namespace ?? 'default',
    importName: imp.metadata.name!,
    importUid: imp.metadata.uid!,
    diskIndex: index,
    url: diskUrl(imp, token, disk.diskName ?? `disk-${index}.img`),
    displayName: imageDisplayName(imp.metadata.name!, index, { importUid: imp.metadata.uid }),
    ...(imp.spec.storageClass ? { storageClassName: imp.spec.storageClass } : {}),
  });
  manifest.metadata.labels = { ...manifest.metadata.labels, [ATTEMPT_LABEL]: String(attempt) };
  return kube.create<Obj>(manifest as unknown as Obj);
}
