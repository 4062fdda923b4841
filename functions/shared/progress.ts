// Overall progress of an import in percent, from its phase and the bytes done of every disk. The
// phase-function frame (phase-function.ts) and the export Job's status writes use it; nothing
// else sets status.progress.
// Export takes the first 60 %, the image download into Harvester the next 30 %, the VM the rest.
import {
  ImportStatus,
  isTerminalImport,
  type DiskInfo,
  type VirtualMachineImportStatus,
} from './api/index.ts';

const EXPORT_SHARE = 60;
const IMAGES_SHARE = 30;
/** The VM exists; starting it is the rest. */
const VM_CREATED = 95;
const DONE = 100;

function bytesFraction(disks: readonly DiskInfo[], phases: readonly string[]): number {
  let done = 0;
  let total = 0;
  for (const d of disks) {
    const p = d.progress;
    if (!p) continue;
    const t = p.bytesTotal ?? 0;
    total += t;
    done += phases.includes(p.phase) ? Math.min(p.bytesDone ?? 0, t) : t;
  }
  return total > 0 ? done / total : 0;
}

export function overallProgress(status: VirtualMachineImportStatus | undefined): number {
  const phase = status?.importStatus ?? '';
  const disks = status?.diskImportStatus ?? [];
  switch (phase) {
    case ImportStatus.New:
    case ImportStatus.Valid:
    case ImportStatus.Invalid:
      return 0;
    case ImportStatus.SourceReady:
      return Math.floor(
        EXPORT_SHARE * bytesFraction(disks, ['pending', 'exporting', 'converting', 'verifying']),
      );
    case ImportStatus.DisksExported:
      return EXPORT_SHARE;
    case ImportStatus.DiskImagesSubmitted:
    case ImportStatus.DiskImagesFailed:
      return EXPORT_SHARE + Math.floor(IMAGES_SHARE * bytesFraction(disks, ['exported', 'importing']));
    case ImportStatus.DiskImagesReady:
      return EXPORT_SHARE + IMAGES_SHARE;
    case ImportStatus.VirtualMachineCreated:
      // Created stopped on purpose (spec.startVirtualMachine: false) is the end.
      return isTerminalImport(status) ? DONE : VM_CREATED;
    case ImportStatus.VirtualMachineRunning:
      return DONE;
    default:
      return status?.progress ?? 0;
  }
}
