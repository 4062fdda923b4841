// disksExported → diskImageSubmitted: starts the import's disk server and creates one Harvester
// VirtualMachineImage per exported disk (found again by labels, so duplicate events create none).
import {
  DiskConditionType,
  ImportStatus,
  type DiskInfo,
  type VirtualMachineImport,
  ImportConditionType,
} from '../shared/api/index.ts';
import { setCondition } from '../shared/conditions.ts';
import {
  IMAGE_API_VERSION,
  IMAGE_KIND,
  buildVirtualMachineImage,
} from '../shared/harvester/virtual-machine-image.ts';
import { ATTEMPT_LABEL, LABEL_DISK_INDEX, TOKEN_ANNOTATION } from '../shared/labels.ts';
import { importFunction, type ImportStepContext, type StepOutcome } from '../shared/import-function.ts';
import { importObjectNames, importUidSelector } from '../shared/import-objects.ts';
import type { Kube, Obj } from '../shared/kube/client.ts';
import { imageDisplayName } from '../shared/naming.ts';
import { vmImportImage } from '../shared/settings.ts';
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

export async function imagesStep({ kube, import: imp, now }: ImportStepContext): Promise<StepOutcome> {
  const status = imp.status ?? {};
  const disks = status.diskImportStatus ?? [];
  if (!disks.length) {
    const message = 'the export produced no disks: the source VM has no disk to import';
    return {
      action: 'update',
      status: { ...status, importStatus: ImportStatus.Invalid },
      condition: {
        type: ImportConditionType.DiskImagesSubmitted,
        status: 'False',
        reason: 'NoDisks',
        message,
      },
      event: { type: 'Warning', reason: 'NoDisks', message },
    };
  }
  const token = await ensureDiskServer(kube, imp);
  // Harvester gives up on a URL after a few quick retries: submit only once the server serves.
  const server = await kube.find<Obj>(
    'apps/v1',
    'Deployment',
    imp.metadata.namespace,
    importObjectNames(imp.metadata.name!).diskServer,
  );
  if (!((server?.status as { readyReplicas?: number } | undefined)?.readyReplicas ?? 0))
    return { action: 'wait', why: 'disk server not ready yet; its Deployment update brings the import back' };
  const existing = await imagesByDisk(kube, imp);
  const next = await Promise.all(
    disks.map(async (disk, index): Promise<DiskInfo> => {
      const image = existing.get(index) ?? (await submitImage(kube, imp, token, disk, index));
      return {
        ...disk,
        VirtualMachineImage: image.metadata!.name!,
        diskConditions: setCondition(
          disk.diskConditions,
          {
            type: DiskConditionType.ImageSubmitted,
            status: 'True',
            reason: 'ImageCreated',
            message: `VirtualMachineImage ${image.metadata!.name} downloads ${disk.diskName}`,
          },
          now,
        ),
        progress: {
          phase: 'importing',
          bytesDone: 0,
          bytesTotal: disk.diskSize ?? disk.progress?.bytesTotal ?? 0,
        },
      };
    }),
  );
  const nextStatus = { ...status, importStatus: ImportStatus.DiskImagesSubmitted, diskImportStatus: next };
  const message = `${next.length} VirtualMachineImage(s) created: ${next.map((d) => d.VirtualMachineImage).join(', ')}`;
  return {
    action: 'update',
    status: nextStatus,
    condition: {
      type: ImportConditionType.DiskImagesSubmitted,
      status: 'True',
      reason: 'ImagesCreated',
      message,
    },
    event: { type: 'Normal', reason: 'ImagesCreated', message },
  };
}

export const handle = importFunction('images', imagesStep);
