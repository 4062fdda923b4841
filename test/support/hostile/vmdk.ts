// Builds streamOptimized VMDKs piece by piece (VMware Virtual Disk Format 1.1, "Stream-Optimized
// Compressed Sparse Extents"), including pieces no honest writer produces: for the hostile-input
// corpus, the row tests of issue 22 and the fuzzers.
import { deflateSync } from 'node:zlib';

export const S = 512;

export interface HeaderFields {
  magic?: number;
  version?: number;
  flags?: number;
  capacitySectors?: bigint;
  grainSectors?: bigint;
  descriptorOffset?: bigint;
  descriptorSectors?: bigint;
  numGTEsPerGT?: number;
  rgdOffset?: bigint;
  gdOffset?: bigint;
  overheadSectors?: bigint;
  compressAlgorithm?: number;
}

export function vmdkHeader(f: HeaderFields = {}): Buffer {
  const h = Buffer.alloc(S);
  h.writeUInt32LE(f.magic ?? 0x564d444b, 0);
  h.writeUInt32LE(f.version ?? 3, 4);
  h.writeUInt32LE(f.flags ?? 0x30001, 8);
  h.writeBigUInt64LE(f.capacitySectors ?? 2048n, 12);
  h.writeBigUInt64LE(f.grainSectors ?? 128n, 20);
  h.writeBigUInt64LE(f.descriptorOffset ?? 1n, 28);
  h.writeBigUInt64LE(f.descriptorSectors ?? 1n, 36);
  h.writeUInt32LE(f.numGTEsPerGT ?? 512, 44);
  h.writeBigUInt64LE(f.rgdOffset ?? 0n, 48);
  h.writeBigUInt64LE(f.gdOffset ?? 0xffffffffffffffffn, 56);
  h.writeBigUInt64LE(f.overheadSectors ?? 128n, 64);
  h.write('\n \r\n', 73, 'latin1');
  h.writeUInt16LE(f.compressAlgorithm ?? 1, 77);
  return h;
}

const DESCRIPTOR =
  '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="streamOptimized"\n';

/** Header, descriptor in sector 1, zeros up to `overheadSectors` (default 128). */
export function vmdkPrologue(f: HeaderFields = {}): Buffer {
  const overhead = Number(f.overheadSectors ?? 128n);
  const out = Buffer.alloc(overhead * S);
  vmdkHeader(f).copy(out, 0);
  out.write(DESCRIPTOR, S, 'latin1');
  return out;
}

export function padSector(b: Buffer): Buffer {
  const out = Buffer.alloc(Math.ceil(b.length / S) * S);
  b.copy(out);
  return out;
}

/** A grain marker with `data` deflated (or `compressed` given as is), padded to a sector. */
export function grainMarker(lba: bigint | number, data: Buffer, compressed?: Buffer): Buffer {
  const z = compressed ?? deflateSync(data);
  const m = Buffer.alloc(12 + z.length);
  m.writeBigUInt64LE(BigInt(lba), 0);
  m.writeUInt32LE(z.length, 8);
  z.copy(m, 12);
  return padSector(m);
}

export const MARKER = { eos: 0, gt: 1, gd: 2, footer: 3 } as const;

/** A metadata marker sector claiming `sectors` of payload, followed by `payload` (not padded). */
export function metadataMarker(type: number, sectors: bigint | number, payload = Buffer.alloc(0)): Buffer {
  const m = Buffer.alloc(S);
  m.writeBigUInt64LE(BigInt(sectors), 0);
  m.writeUInt32LE(type, 12);
  return Buffer.concat([m, payload]);
}

export const eosMarker = (): Buffer => metadataMarker(MARKER.eos, 0);

/** A small valid VMDK: `grains` grains of pseudo-random data from LBA 0, grain size 128 sectors. */
export function validVmdk(grains = 2, capacitySectors = 2048n): Buffer {
  const parts = [vmdkPrologue({ capacitySectors })];
  for (let g = 0; g < grains; g++) parts.push(grainMarker(g * 128, grainData(g)));
  parts.push(eosMarker());
  return Buffer.concat(parts);
}

export function grainData(seed: number, bytes = 128 * S): Buffer {
  const b = Buffer.alloc(bytes);
  let x = (seed + 1) * 2654435761;
  for (let i = 0; i < bytes; i += 4) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    b.writeUInt32LE(x, i);
  }
  return b;
}
