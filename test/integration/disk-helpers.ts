// Test helpers for the disk data path: deterministic raw disks, qemu-img, and a VMware-style
// streamOptimized encoder (grain directory at the end, GT/GD/footer/EOS markers) whose output is
// checked against qemu-img's reader in the tests.
import { createHash } from 'node:crypto';
import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { execa } from 'execa';

export async function tempDir(prefix = 'disk-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Deterministic pseudo-random bytes (xorshift), so failures reproduce. */
export function pseudoRandom(length: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export interface DataPiece {
  offset: number;
  length: number;
}

/** Writes a sparse raw disk of `sizeBytes` with pseudo-random data at `pieces`. */
export async function writeRawDisk(
  path: string,
  sizeBytes: number,
  pieces: DataPiece[],
  seed = 7,
): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.truncate(sizeBytes);
    for (const [i, p] of pieces.entries())
      await fh.write(pseudoRandom(p.length, seed + i), 0, p.length, p.offset);
  } finally {
    await fh.close();
  }
}

export async function qemuImg(...args: string[]): Promise<string> {
  return (await execa('qemu-img', args)).stdout;
}

export async function sha256File(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

export async function allocatedOnDisk(path: string): Promise<number> {
  return (await stat(path)).blocks * 512;
}

/**
 * Encodes `raw` as a VMware-style streamOptimized VMDK following Virtual Disk Format 1.1:
 * header with gdOffset = GD_AT_END, descriptor, grains (markers + zlib data), then GT markers, a
 * GD marker, a footer marker with the real header, and an EOS marker. `zeroGrains: true` also
 * emits all-zero grains (some writers do); the final partial grain is padded to a full grain.
 */
export function encodeVmwareStreamVmdk(raw: Buffer, opts: { zeroGrains?: boolean } = {}): Buffer {
  const S = 512;
  const grainSectors = 128;
  const grainBytes = grainSectors * S;
  const gtes = 512;
  const capacity = Math.ceil(raw.length / S);
  const grains = Math.ceil(capacity / grainSectors);
  const gdes = Math.ceil(grains / gtes);
  const descriptor = Buffer.from(
    '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="streamOptimized"\n\n' +
      `# Extent description\nRDONLY ${capacity} SPARSE "disk.vmdk"\n\n# The Disk Data Base\n#DDB\n\n` +
      'ddb.adapterType = "lsilogic"\nddb.virtualHWVersion = "14"\n',
  );
  const descSectors = 20;
  const overhead = 128;
  const parts: Buffer[] = [];
  let sector = 0;
  const push = (b: Buffer) => {
    const padded = Buffer.alloc(Math.ceil(b.length / S) * S);
    b.copy(padded);
    parts.push(padded);
    sector += padded.length / S;
  };
  const header = (gdOffset: bigint) => {
    const h = Buffer.alloc(S);
    h.write('KDMV', 0, 'latin1');
    h.writeUInt32LE(3, 4);
    h.writeUInt32LE(0x30001, 8);
    h.writeBigUInt64LE(BigInt(capacity), 12);
    h.writeBigUInt64LE(BigInt(grainSectors), 20);
    h.writeBigUInt64LE(1n, 28);
    h.writeBigUInt64LE(BigInt(descSectors), 36);
    h.writeUInt32LE(gtes, 44);
    h.writeBigUInt64LE(0n, 48);
    h.writeBigUInt64LE(gdOffset, 56);
    h.writeBigUInt64LE(BigInt(overhead), 64);
    h.write('\n \r\n', 73, 'latin1');
    h.writeUInt16LE(1, 77);
    return h;
  };
  const metaMarker = (sectors: number, type: number) => {
    const m = Buffer.alloc(S);
    m.writeBigUInt64LE(BigInt(sectors), 0);
    m.writeUInt32LE(type, 12);
    return m;
  };
  push(header(0xffffffffffffffffn));
  push(
    descriptor.length <= descSectors * S
      ? Buffer.concat([descriptor, Buffer.alloc(descSectors * S - descriptor.length)])
      : descriptor,
  );
  push(Buffer.alloc((overhead - sector) * S));
  const gt = new Uint32Array(gdes * gtes);
  for (let g = 0; g < grains; g++) {
    const data = Buffer.alloc(grainBytes);
    raw.copy(data, 0, g * grainBytes, Math.min(raw.length, (g + 1) * grainBytes));
    if (!opts.zeroGrains && data.every((b) => b === 0)) continue;
    const z = deflateSync(data);
    const m = Buffer.alloc(12 + z.length);
    m.writeBigUInt64LE(BigInt(g * grainSectors), 0);
    m.writeUInt32LE(z.length, 8);
    z.copy(m, 12);
    gt[g] = sector;
    push(m);
  }
  const gd = Buffer.alloc(gdes * 4);
  for (let t = 0; t < gdes; t++) {
    push(metaMarker((gtes * 4) / S, 1));
    gd.writeUInt32LE(sector, t * 4);
    push(Buffer.from(gt.buffer, t * gtes * 4, gtes * 4));
  }
  push(metaMarker(Math.ceil(gd.length / S), 2));
  const gdOffset = sector;
  push(gd);
  push(metaMarker(1, 3));
  push(header(BigInt(gdOffset)));
  push(metaMarker(0, 0));
  return Buffer.concat(parts);
}
