/** Granularity at which zero data is skipped (never written) and extents are aligned. */
export const BLOCK_SIZE = 64 * 1024;

const ZERO_BLOCK = Buffer.alloc(BLOCK_SIZE);

/** A shared, read-only buffer of zeros of at least `length` bytes (do not write into it). */
export function zeros(length: number): Buffer {
  return length <= BLOCK_SIZE ? ZERO_BLOCK.subarray(0, length) : Buffer.alloc(length);
}

/** True when every byte of `buf` is zero (memcmp against a zero block, chunk by chunk). */
export function isAllZero(buf: Uint8Array): boolean {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let i = 0; i < b.length; i += BLOCK_SIZE) {
    const end = Math.min(i + BLOCK_SIZE, b.length);
    if (!b.subarray(i, end).equals(ZERO_BLOCK.subarray(0, end - i))) return false;
  }
  return true;
}

/** A byte range [offset, offset + length) of the output that holds non-zero data. */
export interface DataRun {
  offset: number;
  length: number;
}

/**
 * Splits `buf`, which belongs at absolute `position`, at absolute BLOCK_SIZE boundaries and
 * returns the runs of consecutive non-zero blocks (relative to `buf`), at most `maxRun` bytes each.
 */
export function nonZeroRuns(buf: Uint8Array, position: number, maxRun = 1024 * 1024): DataRun[] {
  const runs: DataRun[] = [];
  let i = 0;
  let current: DataRun | undefined;
  while (i < buf.length) {
    const blockEnd = Math.min(buf.length, i + (BLOCK_SIZE - ((position + i) % BLOCK_SIZE)));
    if (isAllZero(buf.subarray(i, blockEnd))) {
      current = undefined;
    } else if (current && current.length + (blockEnd - i) <= maxRun) {
      current.length += blockEnd - i;
    } else {
      current = { offset: i, length: blockEnd - i };
      runs.push(current);
    }
    i = blockEnd;
  }
  return runs;
}
