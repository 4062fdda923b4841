// Whether all disk images of an import are ready, from status.diskImportStatus[].diskConditions.
// Upstream's evaluateDiskImportStatus (pkg/controllers/migration/helper.go) depends on disk order
// and reports [Failed, Pending] as failed while a disk is still importing; here every disk is
// judged on its own.
import { DiskConditionType, type Condition, type DiskInfo } from '../api/index.ts';

export type DiskImageState = 'ready' | 'failed' | 'pending';
export type DiskImagesVerdict = 'ready' | 'failed' | 'waiting';

function isTrue(conditions: readonly Condition[] | null | undefined, type: string): boolean {
  return conditions?.some((c) => c.type === type && c.status === 'True') ?? false;
}

/**
 * One disk: `failed` when VirtualMachineImageFailed=True (it wins over Ready: a resubmission
 * must clear Failed), `ready` when VirtualMachineImageReady=True, otherwise `pending`.
 */
export function diskImageState(disk: DiskInfo): DiskImageState {
  if (isTrue(disk.diskConditions, DiskConditionType.ImageFailed)) return 'failed';
  if (isTrue(disk.diskConditions, DiskConditionType.ImageReady)) return 'ready';
  return 'pending';
}

/**
 * - `waiting` while any disk is pending (so failures are acted on once, with every disk's final
 *   state known), and for an empty list (an import without disks is rejected before images
 *   are created; never report it ready);
 * - `failed` when no disk is pending and at least one failed;
 * - `ready` when every disk is ready.
 * The result does not depend on the order of the disks.
 */
export function evaluateDiskImages(disks: readonly DiskInfo[]): DiskImagesVerdict {
  if (disks.length === 0) return 'waiting';
  const states = disks.map(diskImageState);
  if (states.includes('pending')) return 'waiting';
  if (states.includes('failed')) return 'failed';
  return 'ready';
}
