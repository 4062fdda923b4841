// Makes the benchmark's streamOptimized VMDKs quickly. `qemu-img convert -O vmdk -o
// subformat=streamOptimized` deflates every grain single-threaded at zlib's default level, which
// on the contract's random data runs at ~20 MB/s here (a fresh bench machine spent ~10 min on it)
// and only produces stored (uncompressed) deflate blocks, because random data does not compress.
// This writer produces the same kind of file directly: zlib streams of stored blocks (level 0),
// deflated in the thread pool, in VMware's layout (Virtual Disk Format 1.1: header with
// GD_AT_END, descriptor, grain markers, GT/GD markers, footer, end-of-stream marker), which
// qemu-img and our decoder both read.
import { rename, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { deflate } from 'node:zlib';
import { DiskFileReader } from '../../functions/shared/disk/direct-reader.ts';
import { findDataExtents, type Extent } from '../../functions/shared/disk/extents.ts';
import { SparseFileWriter } from '../../functions/shared/disk/sparse-file.ts';
import { StagedWriter } from '../../functions/shared/disk/staged-writer.ts';

const deflateAsync = promisify(deflate);
const S = 512;
const GRAIN_SECTORS = 128;
const GRAIN = GRAIN_SECTORS * S;
const GTES = 512;
const DESC_SECTORS = 20;
const OVERHEAD = 128;
/** Grains read and deflated per batch (4 MiB). */
const BATCH_GRAINS = 64;
const ZERO_GRAIN = Buffer.alloc(GRAIN);

function header(capacity: number, gdOffset: bigint): Buffer {
  const h = Buffer.alloc(S);
  h.write('KDMV', 0, 'latin1');
  h.writeUInt32LE(3, 4);
  h.writeUInt32LE(0x30001, 8); // valid newline test, compressed grains, markers
  h.writeBigUInt64LE(BigInt(capacity), 12);
  h.writeBigUInt64LE(BigInt(GRAIN_SECTORS), 20);
  h.writeBigUInt64LE(1n, 28); // descriptor at sector 1
  h.writeBigUInt64LE(BigInt(DESC_SECTORS), 36);
  h.writeUInt32LE(GTES, 44);
  h.writeBigUInt64LE(0n, 48);
  h.writeBigUInt64LE(gdOffset, 56);
  h.writeBigUInt64LE(BigInt(OVERHEAD), 64);
  h.write('\n \r\n', 73, 'latin1');
  h.writeUInt16LE(1, 77); // deflate
  return h;
}

function metaMarker(sectors: number, type: number): Buffer {
  const m = Buffer.alloc(S);
  m.writeBigUInt64LE(BigInt(sectors), 0);
  m.writeUInt32LE(type, 12);
  return m;
}

const padded = (n: number) => Math.ceil(n / S) * S;

const overlaps = (extents: Extent[], offset: number, length: number) =>
  extents.some((e) => e.offset < offset + length && offset < e.offset + e.length);

/**
 * Writes the streamOptimized VMDK of the raw file `rawPath` to `vmdkPath` (via a temporary file,
 * renamed at the end). All-zero grains are left out, as qemu-img and VMware do.
 */
export async function writeStreamOptimizedVmdk(
  rawPath: string,
  vmdkPath: string,
  adapterType = 'lsilogic',
): Promise<{ bytes: number; grains: number }> {
  const size = (await stat(rawPath)).size;
  const capacity = Math.ceil(size / S);
  const grains = Math.ceil(capacity / GRAIN_SECTORS);
  const gdes = Math.ceil(grains / GTES);
  const tmp = `${vmdkPath}.tmp`;
  // Batches without data are not read; the rest bypasses the page cache (read once).
  const extents = await findDataExtents(rawPath);
  const input = await DiskFileReader.open(rawPath);
  // Staged in aligned 1 MiB pieces so they go out with O_DIRECT (the zero padding stays a hole).
  const out = await SparseFileWriter.create(tmp);
  const staged = new StagedWriter(out);
  let pos = 0;
  const write = async (b: Buffer) => {
    await staged.put(b, pos);
    pos += b.length;
  };
  try {
    const descriptor = Buffer.alloc(DESC_SECTORS * S);
    descriptor.write(
      '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="streamOptimized"\n\n' +
        `# Extent description\nRW ${capacity} SPARSE "disk.vmdk"\n\n# The Disk Data Base\n#DDB\n\n` +
        `ddb.virtualHWVersion = "4"\nddb.geometry.cylinders = "${Math.min(65535, Math.ceil(capacity / (255 * 63)))}"\n` +
        `ddb.geometry.heads = "255"\nddb.geometry.sectors = "63"\nddb.adapterType = "${adapterType}"\n`,
    );
    await write(Buffer.concat([header(capacity, 0xffffffffffffffffn), descriptor]));
    await write(Buffer.alloc((OVERHEAD - 1 - DESC_SECTORS) * S));

    const gt = new Uint32Array(gdes * GTES);
    let written = 0;
    const batch = Buffer.allocUnsafe(BATCH_GRAINS * GRAIN);
    for (let first = 0; first < grains; first += BATCH_GRAINS) {
      const want = Math.min(batch.length, size - first * GRAIN);
      if (!overlaps(extents, first * GRAIN, want)) continue;
      const got = await input.read(batch, 0, want, first * GRAIN);
      if (got < want) throw new Error(`${rawPath} shrank while being read`);
      batch.fill(0, got, Math.ceil(got / GRAIN) * GRAIN); // the last grain is padded with zeros
      const count = Math.ceil(got / GRAIN);
      const jobs: Promise<{ g: number; z: Buffer } | undefined>[] = [];
      for (let i = 0; i < count; i++) {
        const data = batch.subarray(i * GRAIN, (i + 1) * GRAIN);
        if (data.equals(ZERO_GRAIN)) continue;
        jobs.push(deflateAsync(data, { level: 0 }).then((z) => ({ g: first + i, z })));
      }
      const parts: Buffer[] = [];
      for (const job of await Promise.all(jobs)) {
        if (!job) continue;
        const m = Buffer.alloc(padded(12 + job.z.length));
        m.writeBigUInt64LE(BigInt(job.g * GRAIN_SECTORS), 0);
        m.writeUInt32LE(job.z.length, 8);
        job.z.copy(m, 12);
        gt[job.g] = (pos + parts.reduce((n, p) => n + p.length, 0)) / S;
        parts.push(m);
        written++;
      }
      if (parts.length) await write(Buffer.concat(parts));
    }
    const gd = Buffer.alloc(padded(gdes * 4));
    for (let t = 0; t < gdes; t++) {
      await write(metaMarker((GTES * 4) / S, 1));
      gd.writeUInt32LE(pos / S, t * 4);
      await write(Buffer.from(gt.buffer, t * GTES * 4, GTES * 4));
    }
    await write(metaMarker(gd.length / S, 2));
    const gdOffset = pos / S;
    await write(gd);
    await write(metaMarker(1, 3));
    await write(header(capacity, BigInt(gdOffset)));
    await write(metaMarker(0, 0));
    await staged.finish();
    await out.setSize(pos);
    await out.finish();
    await rename(tmp, vmdkPath);
    return { bytes: pos, grains: written };
  } catch (e) {
    await staged.settle();
    await out.discard();
    throw e;
  } finally {
    await input.close();
  }
}
