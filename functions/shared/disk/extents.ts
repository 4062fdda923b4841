// Finds where a sparse raw file holds data. Node has no SEEK_DATA, so `qemu-img map` (which uses
// SEEK_DATA/SEEK_HOLE) is asked first; its answer is trusted only when it agrees with the blocks
// the file system says are allocated. Otherwise the file is scanned for non-zero 64 KiB blocks.
import { open, stat } from 'node:fs/promises';
import { execa } from 'execa';
import { BLOCK_SIZE, isAllZero } from './zero.ts';

/** A byte range of a raw file that holds data. */
export interface Extent {
  offset: number;
  length: number;
}

export type ExtentMethod = 'auto' | 'qemu-img' | 'scan';

export interface FindExtentsOptions {
  /** 'auto' (default): qemu-img map when it is accurate here, else a scan. */
  method?: ExtentMethod;
  signal?: AbortSignal;
}

/**
 * The data extents of `rawPath`, sorted, non-overlapping, aligned to 64 KiB (the last one may end
 * at the file's unaligned end). Ranges outside them read as zeros.
 */
export async function findDataExtents(rawPath: string, opts: FindExtentsOptions = {}): Promise<Extent[]> {
  const method = opts.method ?? 'auto';
  const st = await stat(rawPath);
  if (method !== 'scan') {
    try {
      const mapped = await qemuImgDataRanges(rawPath, opts.signal);
      const aligned = alignExtents(mapped, st.size);
      if (method === 'qemu-img' || mapLooksAccurate(mapped, st.size, st.blocks * 512)) return aligned;
    } catch (e) {
      if (method === 'qemu-img') throw e;
      opts.signal?.throwIfAborted();
    }
  }
  return scanNonZeroExtents(rawPath, st.size, opts.signal);
}

/** Data ranges reported by `qemu-img map --output=json -f raw`. */
export async function qemuImgDataRanges(rawPath: string, signal?: AbortSignal): Promise<Extent[]> {
  const { stdout } = await execa('qemu-img', ['map', '--output=json', '-f', 'raw', rawPath], {
    cancelSignal: signal,
  });
  return parseQemuImgMap(stdout);
}

export function parseQemuImgMap(json: string): Extent[] {
  const entries = JSON.parse(json) as { start: number; length: number; data: boolean }[];
  if (!Array.isArray(entries)) throw new Error('qemu-img map: unexpected output');
  return entries.filter((e) => e.data).map((e) => ({ offset: e.start, length: e.length }));
}

/**
 * qemu-img falls back to "everything is data" where the file system cannot report holes. A map
 * that claims (almost) all of a file whose allocated blocks are far fewer is not believed.
 */
export function mapLooksAccurate(mapped: Extent[], sizeBytes: number, allocatedBytes: number): boolean {
  const dataBytes = mapped.reduce((n, e) => n + e.length, 0);
  if (dataBytes < sizeBytes) return true; // it does see holes
  return allocatedBytes >= sizeBytes * 0.9;
}

/** Widens ranges to 64 KiB boundaries (clamped to the file size), sorts and merges them. */
export function alignExtents(ranges: Extent[], sizeBytes: number, block = BLOCK_SIZE): Extent[] {
  const sorted = ranges
    .filter((r) => r.length > 0)
    .map((r) => ({
      start: Math.floor(r.offset / block) * block,
      end: Math.min(sizeBytes, Math.ceil((r.offset + r.length) / block) * block),
    }))
    .filter((r) => r.end > r.start)
    .sort((a, b) => a.start - b.start);
  const out: Extent[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.start <= last.offset + last.length) {
      last.length = Math.max(last.length, r.end - last.offset);
    } else {
      out.push({ offset: r.start, length: r.end - r.start });
    }
  }
  return out;
}

/** Reads the whole file and returns its non-zero 64 KiB blocks as merged extents. */
export async function scanNonZeroExtents(
  rawPath: string,
  sizeBytes: number,
  signal?: AbortSignal,
): Promise<Extent[]> {
  const fh = await open(rawPath, 'r');
  try {
    const chunk = Buffer.allocUnsafe(16 * BLOCK_SIZE);
    const found: Extent[] = [];
    for (let pos = 0; pos < sizeBytes; pos += chunk.length) {
      signal?.throwIfAborted();
      const want = Math.min(chunk.length, sizeBytes - pos);
      let got = 0;
      while (got < want) {
        const { bytesRead } = await fh.read(chunk, got, want - got, pos + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      for (let i = 0; i < got; i += BLOCK_SIZE) {
        const end = Math.min(got, i + BLOCK_SIZE);
        if (!isAllZero(chunk.subarray(i, end))) found.push({ offset: pos + i, length: end - i });
      }
    }
    return alignExtents(found, sizeBytes);
  } finally {
    await fh.close();
  }
}
