// Pure parsing of VMware "Virtual Disk Format 1.1" sparse extent structures as used by
// streamOptimized VMDKs (NFC exports, OVA members). All integers are little-endian.
import { DiskFormatError } from './errors.ts';
import { MAX_DISK_BYTES, MAX_VMDK_DESCRIPTOR_BYTES, MAX_VMDK_GTES_PER_GT } from '../limits.ts';

export const SECTOR = 512;
export const VMDK_MAGIC = 0x564d444b; // "KDMV" on disk
export const GD_AT_END = 0xffffffffffffffffn;

export const FLAG_COMPRESSED = 1 << 16;
export const FLAG_MARKERS = 1 << 17;
export const COMPRESSION_DEFLATE = 1;

export const MARKER_EOS = 0;
export const MARKER_GT = 1;
export const MARKER_GD = 2;
export const MARKER_FOOTER = 3;

/** Largest grain we accept (qemu and VMware use 64 KiB; the spec allows powers of two ≥ 4 KiB). */
const MAX_GRAIN_SECTORS = 2048; // 1 MiB

export interface SparseExtentHeader {
  version: number;
  flags: number;
  capacitySectors: number;
  grainSectors: number;
  descriptorOffset: number;
  descriptorSectors: number;
  numGTEsPerGT: number;
  rgdOffset: number;
  /** Sector of the grain directory, or undefined when it is GD_AT_END (then the footer has it). */
  gdOffset: number | undefined;
  overheadSectors: number;
  compressAlgorithm: number;
}

const notVmdk = (why: string) =>
  new DiskFormatError('NotStreamOptimizedVmdk', `not a streamOptimized VMDK: ${why}`);

function safeNumber(v: bigint, field: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw notVmdk(`${field} ${v} is out of range`);
  return Number(v);
}

/** Parses and validates the 512-byte SparseExtentHeader at the start of a streamOptimized VMDK. */
export function parseSparseExtentHeader(sector: Buffer): SparseExtentHeader {
  if (sector.length < SECTOR) throw notVmdk(`input is only ${sector.length} bytes long`);
  const magic = sector.readUInt32LE(0);
  if (magic !== VMDK_MAGIC) {
    const text = sector.subarray(0, 64).toString('latin1');
    if (/^\s*#\s*Disk DescriptorFile/i.test(text)) {
      throw notVmdk('input is a text descriptor (monolithicFlat/split VMDK), not a sparse extent');
    }
    if (sector.readUInt32BE(0) === 0x514649fb) throw notVmdk('input is a qcow2 image');
    if (sector.subarray(0, 4).toString('latin1') === 'COWD')
      throw notVmdk('input is an ESX vmfsSparse (COWD) extent');
    throw notVmdk(`bad magic 0x${magic.toString(16).padStart(8, '0')} (expected "KDMV")`);
  }
  const version = sector.readUInt32LE(4);
  const flags = sector.readUInt32LE(8);
  const gd = sector.readBigUInt64LE(56);
  const h: SparseExtentHeader = {
    version,
    flags,
    capacitySectors: safeNumber(sector.readBigUInt64LE(12), 'capacity'),
    grainSectors: safeNumber(sector.readBigUInt64LE(20), 'grainSize'),
    descriptorOffset: safeNumber(sector.readBigUInt64LE(28), 'descriptorOffset'),
    descriptorSectors: safeNumber(sector.readBigUInt64LE(36), 'descriptorSize'),
    numGTEsPerGT: sector.readUInt32LE(44),
    rgdOffset: safeNumber(sector.readBigUInt64LE(48), 'rgdOffset'),
    gdOffset: gd === GD_AT_END ? undefined : safeNumber(gd, 'gdOffset'),
    overheadSectors: safeNumber(sector.readBigUInt64LE(64), 'overHead'),
    compressAlgorithm: sector.readUInt16LE(77),
  };
  if (version < 1 || version > 3) throw notVmdk(`unsupported sparse extent version ${version}`);
  if (!(flags & FLAG_COMPRESSED) || !(flags & FLAG_MARKERS)) {
    throw notVmdk(
      `flags 0x${flags.toString(16)} lack compressed grains and markers (a monolithicSparse/hosted VMDK cannot be streamed)`,
    );
  }
  if (h.compressAlgorithm !== COMPRESSION_DEFLATE) {
    throw notVmdk(`unsupported compression algorithm ${h.compressAlgorithm} (expected 1 = deflate)`);
  }
  const g = h.grainSectors;
  if (g < 8 || g > MAX_GRAIN_SECTORS || (g & (g - 1)) !== 0)
    throw notVmdk(`invalid grain size of ${g} sectors`);
  if (h.capacitySectors === 0) throw notVmdk('capacity is 0');
  if (h.capacitySectors * SECTOR > MAX_DISK_BYTES) {
    throw notVmdk(
      `capacity of ${h.capacitySectors} sectors is larger than the largest supported disk (${MAX_DISK_BYTES} bytes)`,
    );
  }
  if (h.numGTEsPerGT < 1 || h.numGTEsPerGT > MAX_VMDK_GTES_PER_GT) {
    throw notVmdk(
      `${h.numGTEsPerGT} grain table entries per table is outside 1-${MAX_VMDK_GTES_PER_GT} (VMware and qemu write 512)`,
    );
  }
  if (h.overheadSectors < 1) throw notVmdk(`invalid overHead of ${h.overheadSectors} sectors`);
  if (h.descriptorSectors > 0 && h.descriptorOffset + h.descriptorSectors > h.overheadSectors) {
    throw notVmdk('embedded descriptor lies beyond the metadata area');
  }
  if (h.descriptorSectors * SECTOR > MAX_VMDK_DESCRIPTOR_BYTES)
    throw notVmdk(`embedded descriptor of ${h.descriptorSectors} sectors is too large`);
  return h;
}

/**
 * The first 12 bytes of a marker: a grain marker (size > 0: LBA, compressed size, then the data)
 * or a metadata marker (size = 0: sectors of metadata that follow; its type is the next 4 bytes).
 */
export type Marker =
  { kind: 'grain'; lba: number; compressedSize: number } | { kind: 'metadata'; sectors: number };

export function parseMarker(head: Buffer): Marker {
  const val = head.readBigUInt64LE(0);
  const size = head.readUInt32LE(8);
  if (size > 0) return { kind: 'grain', lba: safeMarkerValue(val), compressedSize: size };
  return { kind: 'metadata', sectors: safeMarkerValue(val) };
}

function safeMarkerValue(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new DiskFormatError(
      'CorruptVmdk',
      `corrupt streamOptimized VMDK: marker value ${v} is out of range`,
    );
  }
  return Number(v);
}

/** Number of grain directory entries for a header (one per grain table). */
export function grainDirectoryEntries(h: SparseExtentHeader): number {
  const grains = Math.ceil(h.capacitySectors / h.grainSectors);
  return Math.ceil(grains / h.numGTEsPerGT);
}

/** Sectors one grain table occupies. */
export function grainTableSectors(h: SparseExtentHeader): number {
  return Math.ceil((h.numGTEsPerGT * 4) / SECTOR);
}

/** Sectors the grain directory occupies. */
export function grainDirectorySectors(h: SparseExtentHeader): number {
  return Math.ceil((grainDirectoryEntries(h) * 4) / SECTOR);
}

/** Counts grain table entries that point at a grain (0 = unallocated, 1 = zeroed grain). */
export function countAllocatedGrainEntries(table: Buffer): number {
  let n = 0;
  for (let i = 0; i + 4 <= table.length; i += 4) if (table.readUInt32LE(i) > 1) n++;
  return n;
}
