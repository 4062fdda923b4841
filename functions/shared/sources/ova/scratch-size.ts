// Size of the scratch volume for an OVA export. Pure. The archive's disks are compressed inside
// it, and the OVF's populated sizes are known only after reading it.
import { roundUpScratch, type ScratchSize, type ScratchSizing, type SizedDisk } from '../scratch-size.ts';
import { mayBeStaged } from './disk-image-kind.ts';
import type { OvfDescriptor } from './ovf-descriptor.ts';

/** An OVF disk as the estimate needs it. */
export interface OvaSizedDisk extends SizedDisk {
  /** Converted through a staged copy of its image file (qcow2, monolithicSparse VMDK). */
  staged: boolean;
}

/** The disks of the VM an OVF describes, for scratchSizeForOva. */
export function ovaSizedDisks(ovf: OvfDescriptor): OvaSizedDisk[] {
  return ovf.disks.map((d) => ({
    sizeBytes: d.capacityBytes,
    ...(d.populatedBytes !== undefined ? { allocatedBytes: d.populatedBytes } : {}),
    staged: d.file !== undefined && mayBeStaged(d.format),
  }));
}

/** An OVA's disks are compressed inside it: twice the file's size, at least its disks' data. */
export const OVA_EXPANSION_FACTOR = 2;

/**
 * OVA: factor x max(2 x Content-Length, what the OVF's disks need when it is known) + minGiB. A
 * disk needs its populated bytes (its virtual size when the OVF does not say), twice for one that
 * is staged (image file and raw output side by side). The OVF matters when the disk files are
 * gzip-compressed or staged: they can then need more than twice the archive.
 */
export function scratchSizeForOva(
  contentLength: number | undefined,
  ovfDisks: readonly OvaSizedDisk[] | undefined,
  sizing: ScratchSizing,
): ScratchSize {
  let ovfBytes = 0;
  let estimated = false;
  for (const d of ovfDisks ?? []) {
    const known = d.allocatedBytes !== undefined && d.allocatedBytes >= 0 && d.allocatedBytes <= d.sizeBytes;
    estimated ||= !known;
    ovfBytes += (known ? d.allocatedBytes! : d.sizeBytes) * (d.staged ? 2 : 1);
  }
  const ovfBasis = `${estimated ? 'virtual or populated' : 'populated'} size of ${ovfDisks?.length ?? 0} OVF disk(s)${ovfDisks?.some((d) => d.staged) ? ', staged ones twice' : ''}`;
  if (contentLength !== undefined && contentLength > 0) {
    const expanded = contentLength * OVA_EXPANSION_FACTOR;
    const basisBytes = Math.max(expanded, ovfBytes);
    return {
      gib: roundUpScratch(basisBytes, sizing),
      basisBytes,
      basis: basisBytes === expanded ? `${OVA_EXPANSION_FACTOR} x the OVA's size` : ovfBasis,
    };
  }
  return { gib: roundUpScratch(ovfBytes, sizing), basisBytes: ovfBytes, basis: ovfBasis };
}
