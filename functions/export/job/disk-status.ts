// What the export Job reports per disk in status.diskImportStatus. Pure.
import type { DiskInfo } from '../../shared/api/index.ts';
import type { DiskBus, DiskExportPhase, DiskProgress } from '../../shared/sources/types.ts';

type ApiDiskPhase = NonNullable<DiskInfo['progress']>['phase'];

/** File name of disk `index` on the scratch volume (also its path on the disk server). */
export const diskFileName = (index: number) => `disk-${index}.img`;

export interface DiskState {
  index: number;
  /** Virtual size in bytes, once known. */
  sizeBytes?: number;
  bus?: DiskBus;
  phase: ApiDiskPhase;
  bytesDone: number;
  bytesTotal: number;
}

/** A client's "done" is not yet ours: the Job still verifies the image before calling it exported. */
export function apiPhaseOf(phase: DiskExportPhase): ApiDiskPhase {
  return phase === 'done' ? 'verifying' : phase;
}

/** Applies a client progress report to the Job's view of the disks. */
export function applyProgress(states: Map<number, DiskState>, p: DiskProgress): void {
  const current = states.get(p.index);
  states.set(p.index, {
    index: p.index,
    ...(current?.sizeBytes !== undefined ? { sizeBytes: current.sizeBytes } : {}),
    ...(current?.bus ? { bus: current.bus } : {}),
    phase: apiPhaseOf(p.phase),
    bytesDone: p.bytesDone,
    bytesTotal: p.bytesTotal,
  });
}

/**
 * status.diskImportStatus from the Job's disk states, in index order. Fields other writers own
 * (diskConditions, VirtualMachineImage) are kept from the current entry of the same disk file.
 */
export function diskImportStatusOf(
  current: readonly DiskInfo[] | null | undefined,
  states: Iterable<DiskState>,
  scratchDir: string,
  defaultBus: DiskBus,
): DiskInfo[] {
  return [...states]
    .sort((a, b) => a.index - b.index)
    .map((s) => {
      const diskName = diskFileName(s.index);
      const previous = current?.find((d) => d.diskName === diskName);
      return {
        ...(previous?.diskConditions ? { diskConditions: previous.diskConditions } : {}),
        ...(previous?.VirtualMachineImage ? { VirtualMachineImage: previous.VirtualMachineImage } : {}),
        diskName,
        diskSize: s.sizeBytes ?? null,
        diskLocalPath: scratchDir,
        busType: s.bus ?? defaultBus,
        progress: { phase: s.phase, bytesDone: s.bytesDone, bytesTotal: s.bytesTotal },
      };
    });
}
