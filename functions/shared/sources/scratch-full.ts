// The scratch volume running out of space while the disks are written: its own capacity (a disk
// holds more data than sized for), another writer on the same volume, or a thin pool behind it
// running dry all look the same to the exporter — ENOSPC (or EDQUOT) on a write, or qemu-img
// saying so. Retrying on the same volume cannot help, so it is terminal, not an attempt.
import { SourceError } from './source-error.ts';

const FULL_CODES = new Set(['ENOSPC', 'EDQUOT']);
// What qemu-img (and other programs writing through libc) print for those errnos.
const FULL_TEXT = /No space left on device|Disk quota exceeded/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** Whether `err`, or anything along its `cause` chain, says the volume is full. */
export function isScratchFull(err: unknown): boolean {
  const seen = new Set<unknown>();
  for (let e: unknown = err; isObject(e) && !seen.has(e); e = e.cause) {
    seen.add(e);
    if (e instanceof SourceError && e.reason === 'ScratchVolumeFull') return true;
    if (typeof e.code === 'string' && FULL_CODES.has(e.code)) return true;
    if (typeof e.stderr === 'string' && FULL_TEXT.test(e.stderr)) return true;
  }
  return false;
}

/** The terminal error a user can act on; never names the scratch path. */
export function scratchFullError(cause: unknown): SourceError {
  if (cause instanceof SourceError && cause.reason === 'ScratchVolumeFull' && !cause.retryable) return cause;
  return new SourceError(
    'ScratchVolumeFull',
    'the scratch volume is full (no space left on device) while the disks were written, so the export ' +
      'stopped. Make room on the storage behind the scratch volume (its storage class or thin pool), ' +
      'or give disks more room with the SCRATCH_SIZE_FACTOR / SCRATCH_MIN_GIB settings of the export ' +
      'function; then delete the import and create it again',
    { cause },
  );
}
