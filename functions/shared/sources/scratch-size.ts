// Size of the scratch volume an export Job writes the disks to. Pure.
// The exporter writes sparse raw images (zero blocks skipped), so a disk takes about the bytes the
// source says hold data; the factor covers filesystem overhead and the source's estimate being
// low, the minimum covers tiny VMs and metadata.
export const GIB = 1024 ** 3;

export interface ScratchSizing {
  /** SCRATCH_SIZE_FACTOR */
  factor: number;
  /** SCRATCH_MIN_GIB */
  minGiB: number;
}

export interface ScratchSize {
  gib: number;
  /** Bytes the estimate is based on (before factor and headroom). */
  basisBytes: number;
  /** How the basis was obtained, for the condition message. */
  basis: string;
}

/** A disk as the size estimate needs it: virtual size, and allocated bytes when the source knows. */
export interface SizedDisk {
  sizeBytes: number;
  allocatedBytes?: number;
}

export function roundUpScratch(bytes: number, sizing: ScratchSizing): number {
  return Math.max(1, Math.ceil((bytes * sizing.factor) / GIB + sizing.minGiB));
}

/**
 * factor x Σ(allocated bytes, or the virtual size when the source cannot tell) + minGiB, rounded
 * up to whole GiB (at least 1).
 */
export function scratchSizeForDisks(disks: readonly SizedDisk[], sizing: ScratchSizing): ScratchSize {
  let basisBytes = 0;
  let estimated = 0;
  for (const d of disks) {
    const allocated = d.allocatedBytes;
    if (allocated !== undefined && allocated >= 0 && allocated <= d.sizeBytes) basisBytes += allocated;
    else {
      basisBytes += d.sizeBytes;
      estimated++;
    }
  }
  const what =
    estimated === 0
      ? `allocated bytes of ${disks.length} disk(s)`
      : estimated === disks.length
        ? `virtual size of ${disks.length} disk(s)`
        : `allocated or virtual size of ${disks.length} disk(s)`;
  return { gib: roundUpScratch(basisBytes, sizing), basisBytes, basis: what };
}

/** "12 GiB" as the PVC request. */
export const quantityOf = (gib: number): string => `${gib}Gi`;

/** Human-readable byte count for messages: 1.5 GiB, 300.0 MiB, 12 KiB, 5 B. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}
