// diskImageSubmitted → diskImagesReady | diskImageFailed, and diskImageFailed → diskImageSubmitted
// (a bounded number of resubmits of the failed images) | VMMigrationFailed with the image's message.
// Image failures are read the way current Harvester reports them (imageState), not only upstream's
// ImportFailed reason.
import {
  DiskConditionType,
  ImportStatus,
  type DiskInfo,
  type VirtualMachineImport,
  ImportConditionType,
} from '../shared/api/index.ts';
import { conditionUnchanged, setCondition, type ConditionInput } from '../shared/condition-list.ts';
import { evaluateDiskImages } from '../shared/harvester/disk-images-status.ts';
import { imageState, type ImageLike, type ImageState } from '../shared/harvester/virtual-machine-image.ts';
import { phaseFunction, type ImportStepContext, type StepOutcome } from '../shared/phase-function.ts';
import type { Obj } from '../shared/kube/client.ts';
import { numberSetting } from '../shared/settings.ts';
import {
  admissionDenial,
  attemptsByDisk,
  ensureDiskServer,
  imageRefused,
  imagesByDisk,
  strayImages,
  submitImage,
  targetStorage,
} from '../shared/disk-server/images.ts';
import { isConflict, isNotFound } from '../shared/kube/client.ts';

const resubmitLimit = () => numberSetting('IMAGE_RESUBMIT_LIMIT');

function withCondition(disk: DiskInfo, input: ConditionInput, now: Date): DiskInfo {
  if (conditionUnchanged(disk.diskConditions, input)) return disk;
  return { ...disk, diskConditions: setCondition(disk.diskConditions, input, now) };
}

/** The disk's status after looking at its image (pure). */
export function diskAfter(disk: DiskInfo, state: ImageState, now: Date): DiskInfo {
  const total = disk.progress?.bytesTotal ?? disk.diskSize ?? 0;
  const image = disk.VirtualMachineImage ?? '';
  if (state.state === 'ready')
    return {
      ...withCondition(
        disk,
        {
          type: DiskConditionType.ImageReady,
          status: 'True',
          reason: 'Imported',
          message: `image ${image} is ready`,
        },
        now,
      ),
      progress: { phase: 'ready', bytesDone: total, bytesTotal: total },
    };
  if (state.state === 'failed')
    return {
      ...withCondition(
        disk,
        {
          type: DiskConditionType.ImageFailed,
          status: 'True',
          reason: 'ImportFailed',
          message: `image ${image} failed: ${state.message ?? 'no message from Harvester'}`,
        },
        now,
      ),
      progress: { phase: 'failed', bytesDone: disk.progress?.bytesDone ?? 0, bytesTotal: total },
    };
  const done = Math.floor((total * (state.progress ?? 0)) / 100);
  return { ...disk, progress: { phase: 'importing', bytesDone: done, bytesTotal: total } };
}

const MISSING: ImageState = {
  state: 'failed',
  message: 'the VirtualMachineImage was deleted',
  retryable: true,
};

async function checkImages(ctx: ImportStepContext, vmImport: VirtualMachineImport): Promise<StepOutcome> {
  const status = vmImport.status ?? {};
  const images = await imagesByDisk(ctx.kube, vmImport);
  const disks = (status.diskImportStatus ?? []).map((disk, i) => {
    const image = images.get(i);
    return diskAfter(disk, image ? imageState(image as ImageLike) : MISSING, ctx.now);
  });
  const verdict = evaluateDiskImages(disks);
  const next = { ...status, diskImportStatus: disks };
  if (verdict === 'waiting') {
    if (JSON.stringify(disks) === JSON.stringify(status.diskImportStatus))
      return { action: 'wait', why: 'images importing' };
    return { action: 'update', status: next };
  }
  if (verdict === 'ready') {
    const ready = { ...next, importStatus: ImportStatus.DiskImagesReady };
    const message = `all ${disks.length} image(s) imported into Harvester`;
    return {
      action: 'update',
      status: ready,
      condition: {
        type: ImportConditionType.DiskImagesReady,
        status: 'True',
        reason: 'ImagesReady',
        message,
      },
      event: { type: 'Normal', reason: 'ImagesReady', message },
    };
  }
  const message = disks
    .flatMap(
      (d) =>
        d.diskConditions?.filter((c) => c.type === DiskConditionType.ImageFailed && c.status === 'True') ??
        [],
    )
    .map((c) => c.message)
    .join('; ');
  return {
    action: 'update',
    status: { ...next, importStatus: ImportStatus.DiskImagesFailed },
    condition: { type: ImportConditionType.DiskImagesReady, status: 'False', reason: 'ImageFailed', message },
    event: { type: 'Warning', reason: 'ImageFailed', message },
  };
}

/**
 * Resubmits the failed images: creates the disk's next attempt (its own display name, see
 * imageDisplayName) and only then deletes the failed one, so the attempt count — the highest
 * attempt label among the disk's images, those Harvester is still deleting included — survives
 * a crash between the two and reaches IMAGE_RESUBMIT_LIMIT.
 */
async function resubmitFailed(ctx: ImportStepContext, vmImport: VirtualMachineImport): Promise<StepOutcome> {
  const status = vmImport.status ?? {};
  const images = await imagesByDisk(ctx.kube, vmImport);
  const attempts = await attemptsByDisk(ctx.kube, vmImport);
  const disks = status.diskImportStatus ?? [];
  const failed = disks
    .map((disk, index) => ({ disk, index, image: images.get(index) }))
    .filter(({ disk }) =>
      disk.diskConditions?.some((c) => c.type === DiskConditionType.ImageFailed && c.status === 'True'),
    );
  const limit = resubmitLimit();
  for (const { disk, index, image } of failed) {
    const tried = attempts.get(index) ?? 1;
    const state = image ? imageState(image as ImageLike) : MISSING;
    // A newer attempt than the one that failed is already there (a duplicate event created it).
    if (state.state !== 'failed') continue;
    if (tried > limit || !state.retryable) {
      const why = disk.diskConditions?.find((c) => c.type === DiskConditionType.ImageFailed)?.message ?? '';
      const message = `${why}${tried > limit ? ` (after ${tried} attempts)` : ' (not retryable)'}; fix the cause and re-create the import`;
      return {
        action: 'update',
        status: { ...status, importStatus: ImportStatus.Failed },
        condition: {
          type: ImportConditionType.DiskImagesReady,
          status: 'False',
          reason: 'ImageFailed',
          message,
        },
        event: { type: 'Warning', reason: 'ImportFailed', message },
      };
    }
  }
  const token = await ensureDiskServer(ctx.kube, vmImport);
  const target = await targetStorage(ctx.kube, vmImport);
  const next = [...disks];
  for (const { disk, index, image } of failed) {
    let current = image;
    if (!current || imageState(current as ImageLike).state === 'failed') {
      try {
        current = await submitImage(
          ctx.kube,
          vmImport,
          token,
          disk,
          index,
          (attempts.get(index) ?? 1) + 1,
          target,
        );
      } catch (e) {
        if (isConflict(e)) return { action: 'wait', why: `next image of disk ${index} created meanwhile` };
        const denied = admissionDenial(e);
        if (denied) return imageRefused(vmImport, denied);
        throw e;
      }
      if (image) await ctx.kube.delete(image as Obj);
    }
    next[index] = {
      ...disk,
      VirtualMachineImage: current.metadata!.name!,
      diskConditions: (disk.diskConditions ?? []).filter((c) => c.type === DiskConditionType.ImageSubmitted),
      progress: {
        phase: 'importing',
        bytesDone: 0,
        bytesTotal: disk.progress?.bytesTotal ?? disk.diskSize ?? 0,
      },
    };
  }
  const message = `resubmitted ${failed.length} failed image(s): ${failed.map(({ index }) => next[index]!.VirtualMachineImage).join(', ')}`;
  return {
    action: 'update',
    status: { ...status, importStatus: ImportStatus.DiskImagesSubmitted, diskImportStatus: next },
    condition: {
      type: ImportConditionType.DiskImagesReady,
      status: 'Unknown',
      reason: 'ImagesResubmitted',
      message,
    },
    event: { type: 'Normal', reason: 'ImagesResubmitted', message },
  };
}

export async function imageStatusStep(ctx: ImportStepContext): Promise<StepOutcome> {
  const vmImport = ctx.import;
  const phase = vmImport.status?.importStatus;
  if (phase === ImportStatus.DiskImagesSubmitted || phase === ImportStatus.DiskImagesFailed)
    for (const stray of await strayImages(ctx.kube, vmImport)) {
      ctx.log.info('deleting an image a duplicate delivery submitted', { image: stray.metadata?.name });
      await ctx.kube.delete(stray).catch((e: unknown) => {
        if (!isNotFound(e)) throw e;
      });
    }
  switch (phase) {
    case ImportStatus.DiskImagesSubmitted:
      return checkImages(ctx, vmImport);
    case ImportStatus.DiskImagesFailed:
      return resubmitFailed(ctx, vmImport);
    default:
      return { action: 'ignore' };
  }
}

export const handle = phaseFunction('image-status', imageStatusStep);
