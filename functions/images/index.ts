// disksExported → diskImageSubmitted: starts the import's disk server and creates one Harvester
// VirtualMachineImage per exported disk (found again by labels, so duplicate events create none).
import { DiskConditionType, ImportStatus, type DiskInfo, ImportConditionType } from '../shared/api/index.ts';
import { setCondition } from '../shared/condition-list.ts';
import { phaseFunction, type ImportStepContext, type StepOutcome } from '../shared/phase-function.ts';
import { importObjectNames } from '../shared/import-objects.ts';
import { isConflict, type Obj } from '../shared/kube/client.ts';
import {
  admissionDenial,
  ensureDiskServer,
  imageRefused,
  imagesByDisk,
  submitImage,
  targetStorage,
} from '../shared/disk-server/images.ts';

export async function imagesStep({ kube, import: vmImport, now }: ImportStepContext): Promise<StepOutcome> {
  const status = vmImport.status ?? {};
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
  const token = await ensureDiskServer(kube, vmImport);
  // Harvester gives up on a URL after a few quick retries: submit only once the server serves.
  const server = await kube.find<Obj>(
    'apps/v1',
    'Deployment',
    vmImport.metadata.namespace,
    importObjectNames(vmImport.metadata.name!).diskServer,
  );
  if (!((server?.status as { readyReplicas?: number } | undefined)?.readyReplicas ?? 0))
    return { action: 'wait', why: 'disk server not ready yet; its Deployment update brings the import back' };
  const existing = await imagesByDisk(kube, vmImport);
  const target = await targetStorage(kube, vmImport);
  const images: Obj[] = [];
  for (const [index, disk] of disks.entries()) {
    let image = existing.get(index);
    if (!image) {
      try {
        image = await submitImage(kube, vmImport, token, disk, index, 1, target);
      } catch (e) {
        // Our display name is per import and attempt: a 409 is a duplicate event's image.
        if (isConflict(e)) return { action: 'wait', why: `image of disk ${index} created meanwhile` };
        const denied = admissionDenial(e);
        if (denied) return imageRefused(vmImport, denied);
        throw e;
      }
    }
    images.push(image);
  }
  const next = disks.map((disk, index): DiskInfo => {
    const image = images[index]!;
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
  });
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

export const handle = phaseFunction('images', imagesStep);
