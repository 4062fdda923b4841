// Pure computation of a qcow2 (version 3, 64 KiB clusters, no compression, 16-bit refcounts)
// image that holds a raw disk's data extents, and of each metadata cluster's bytes. The image is
// laid out as: header, L1 table, refcount table, refcount blocks, L2 tables, data clusters in
// guest order — so it can be streamed front to back without writing it anywhere.
import type { Extent } from './extents.ts';

export const QCOW2_CLUSTER_BITS = 16;
export const QCOW2_CLUSTER_SIZE = 1 << QCOW2_CLUSTER_BITS;
const C = QCOW2_CLUSTER_SIZE;
const L2_ENTRIES = C / 8;
const REFCOUNT_ORDER = 4; // 16-bit refcounts
const REFCOUNTS_PER_BLOCK = (C * 8) / (1 << REFCOUNT_ORDER);
const HEADER_LENGTH = 104;
const QCOW_OFLAG_COPIED = 1n << 63n;

/** A run of consecutive allocated guest clusters and where they sit in the image. */
export interface DataRun {
  guestCluster: number;
  hostCluster: number;
  count: number;
}

export interface Qcow2Layout {
  virtualSize: number;
  clusterSize: number;
  l1Entries: number;
  l1Offset: number;
  l1Clusters: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  refcountBlocksOffset: number;
  refcountBlocks: number;
  l2Offset: number;
  /** L1 indices that have an L2 table, ascending; table i sits at l2Offset + i * clusterSize. */
  l2Tables: number[];
  /** First data cluster (byte offset); every cluster before it is metadata. */
  dataOffset: number;
  dataClusters: number;
  runs: DataRun[];
  totalClusters: number;
  /** Length in bytes of the whole qcow2 image. */
  totalLength: number;
}

/**
 * Computes the qcow2 image for a raw disk of `rawSize` bytes whose data lies in `extents`. The
 * virtual size is rounded up to whole 512-byte sectors, as qemu does for raw files.
 */
export function qcow2Layout(rawSize: number, extents: Extent[]): Qcow2Layout {
  if (!Number.isSafeInteger(rawSize) || rawSize <= 0) throw new RangeError(`invalid disk size ${rawSize}`);
  const virtualSize = Math.ceil(rawSize / 512) * 512;
  const guestClusters = Math.ceil(virtualSize / C);
  const ranges = extents
    .filter((e) => e.length > 0)
    .map((e) => ({
      start: Math.floor(e.offset / C),
      end: Math.min(guestClusters, Math.ceil((e.offset + e.length) / C)),
    }))
    .filter((r) => r.end > r.start)
    .sort((a, b) => a.start - b.start);
  const merged: { start: number; end: number }[] = [];
  for (const r of ranges) {
    const last = merged[merged.length - 1];
    if (last && r.start <= last.end) last.end = Math.max(last.end, r.end);
    else merged.push({ ...r });
  }
  const l1Entries = Math.ceil(guestClusters / L2_ENTRIES);
  const l2Set: number[] = [];
  for (const r of merged) {
    const from = Math.floor(r.start / L2_ENTRIES);
    const to = Math.floor((r.end - 1) / L2_ENTRIES);
    for (let i = Math.max(from, (l2Set[l2Set.length - 1] ?? -1) + 1); i <= to; i++) l2Set.push(i);
  }
  const dataClusters = merged.reduce((n, r) => n + r.end - r.start, 0);
  const l1Clusters = Math.max(1, Math.ceil((l1Entries * 8) / C));
  const fixed = 1 + l1Clusters + l2Set.length + dataClusters;
  // The refcount structures count themselves: grow them until they cover every cluster.
  let refcountBlocks = 1;
  let refcountTableClusters = 1;
  for (;;) {
    const total = fixed + refcountBlocks + refcountTableClusters;
    const needBlocks = Math.ceil(total / REFCOUNTS_PER_BLOCK);
    const needTable = Math.max(1, Math.ceil((needBlocks * 8) / C));
    if (needBlocks <= refcountBlocks && needTable <= refcountTableClusters) break;
    refcountBlocks = Math.max(refcountBlocks, needBlocks);
    refcountTableClusters = Math.max(refcountTableClusters, needTable);
  }
  const l1Offset = C;
  const refcountTableOffset = l1Offset + l1Clusters * C;
  const refcountBlocksOffset = refcountTableOffset + refcountTableClusters * C;
  const l2Offset = refcountBlocksOffset + refcountBlocks * C;
  const dataOffset = l2Offset + l2Set.length * C;
  const firstDataCluster = dataOffset / C;
  const runs: DataRun[] = [];
  let host = firstDataCluster;
  for (const r of merged) {
    runs.push({ guestCluster: r.start, hostCluster: host, count: r.end - r.start });
    host += r.end - r.start;
  }
  const totalClusters = host;
  return {
    virtualSize,
    clusterSize: C,
    l1Entries,
    l1Offset,
    l1Clusters,
    refcountTableOffset,
    refcountTableClusters,
    refcountBlocksOffset,
    refcountBlocks,
    l2Offset,
    l2Tables: l2Set,
    dataOffset,
    dataClusters,
    runs,
    totalClusters,
    totalLength: totalClusters * C,
  };
}

/** The bytes of metadata cluster `index` (index * clusterSize < dataOffset). */
export function qcow2MetadataCluster(layout: Qcow2Layout, index: number): Buffer {
  const buf = Buffer.alloc(C);
  const offset = index * C;
  if (index === 0) {
    writeHeader(layout, buf);
  } else if (offset < layout.refcountTableOffset) {
    const first = ((offset - layout.l1Offset) / 8) | 0;
    for (let k = 0; k < layout.l2Tables.length; k++) {
      const j = layout.l2Tables[k]! - first;
      if (j >= 0 && j < L2_ENTRIES)
        buf.writeBigUInt64BE(BigInt(layout.l2Offset + k * C) | QCOW_OFLAG_COPIED, j * 8);
    }
  } else if (offset < layout.refcountBlocksOffset) {
    const first = (offset - layout.refcountTableOffset) / 8;
    for (let j = 0; j < L2_ENTRIES && first + j < layout.refcountBlocks; j++) {
      buf.writeBigUInt64BE(BigInt(layout.refcountBlocksOffset + (first + j) * C), j * 8);
    }
  } else if (offset < layout.l2Offset) {
    const firstCluster = ((offset - layout.refcountBlocksOffset) / C) * REFCOUNTS_PER_BLOCK;
    const n = Math.min(REFCOUNTS_PER_BLOCK, layout.totalClusters - firstCluster);
    for (let j = 0; j < n; j++) buf.writeUInt16BE(1, j * 2);
  } else if (offset < layout.dataOffset) {
    writeL2Table(layout, layout.l2Tables[(offset - layout.l2Offset) / C]!, buf);
  } else {
    throw new RangeError(`cluster ${index} is a data cluster`);
  }
  return buf;
}

function writeHeader(layout: Qcow2Layout, buf: Buffer): void {
  buf.writeUInt32BE(0x514649fb, 0); // "QFI\xfb"
  buf.writeUInt32BE(3, 4); // version
  // 8: backing_file_offset = 0, 16: backing_file_size = 0
  buf.writeUInt32BE(QCOW2_CLUSTER_BITS, 20);
  buf.writeBigUInt64BE(BigInt(layout.virtualSize), 24);
  // 32: crypt_method = 0
  buf.writeUInt32BE(layout.l1Entries, 36);
  buf.writeBigUInt64BE(BigInt(layout.l1Offset), 40);
  buf.writeBigUInt64BE(BigInt(layout.refcountTableOffset), 48);
  buf.writeUInt32BE(layout.refcountTableClusters, 56);
  // 60: nb_snapshots = 0, 64: snapshots_offset = 0, 72/80/88: feature bits = 0
  buf.writeUInt32BE(REFCOUNT_ORDER, 96);
  buf.writeUInt32BE(HEADER_LENGTH, 100);
  // 104: header extension "end of area" (type 0, length 0) = zeros
}

function writeL2Table(layout: Qcow2Layout, l1Index: number, buf: Buffer): void {
  const first = l1Index * L2_ENTRIES;
  const last = first + L2_ENTRIES;
  for (let i = firstRunEndingAfter(layout.runs, first); i < layout.runs.length; i++) {
    const run = layout.runs[i]!;
    if (run.guestCluster >= last) break;
    const from = Math.max(first, run.guestCluster);
    const to = Math.min(last, run.guestCluster + run.count);
    for (let g = from; g < to; g++) {
      const host = run.hostCluster + (g - run.guestCluster);
      buf.writeBigUInt64BE(BigInt(host * C) | QCOW_OFLAG_COPIED, (g - first) * 8);
    }
  }
}

/** Index of the first run whose guest range ends after `guestCluster`. */
function firstRunEndingAfter(runs: DataRun[], guestCluster: number): number {
  let lo = 0;
  let hi = runs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const r = runs[mid]!;
    if (r.guestCluster + r.count <= guestCluster) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The data run holding image cluster `hostCluster` (≥ the first data cluster). */
export function runAtHostCluster(layout: Qcow2Layout, hostCluster: number): DataRun {
  const runs = layout.runs;
  let lo = 0;
  let hi = runs.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (runs[mid]!.hostCluster <= hostCluster) lo = mid;
    else hi = mid - 1;
  }
  const run = runs[lo];
  if (!run || hostCluster < run.hostCluster || hostCluster >= run.hostCluster + run.count) {
    throw new RangeError(`cluster ${hostCluster} is not a data cluster`);
  }
  return run;
}
