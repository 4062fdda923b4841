// Size of the scratch volume for an OVA export. Pure. The archive's disks are compressed inside
// it, and the OVF's populated sizes are known only after reading it.
import {
  roundUpScratch,
  scratchSizeForDisks,
  type ScratchSize,
  type ScratchSizing,
  type SizedDisk,
} from '../scratch-size.ts';

/** An OVA's disks are compressed inside it: twice the file's size, at least its disks' data. */
export const OVA_EXPANSION_FACTOR = 2;

/**
 * OVA: factor x max(2 x Content-Length, populated bytes from the OVF when known) + minGiB.
 * Without a Content-Length the OVF's capacities (virtual sizes) are the basis.
 */
export function scratchSizeForOva(
  contentLength: number | undefined,
  ovfDisks: readonly SizedDisk[] | undefined,
  sizing: ScratchSizing,
): ScratchSize {
  if (contentLength !== undefined && contentLength > 0) {
    const expanded = contentLength * OVA_EXPANSION_FACTOR;
    return {
      gib: roundUpScratch(expanded, sizing),
      basisBytes: expanded,
      basis: `${OVA_EXPANSION_FACTOR} x the OVA's size`,
    };
  }
  return scratchSizeForDisks(ovfDisks ?? [], sizing);
}
