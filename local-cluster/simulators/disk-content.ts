// Deterministic disk content of the local-stack contract: random data in `allocatedPercent` of the
// disk's 1 MiB blocks, zeros elsewhere, all decided by `seed`. Written as sparse raw files so that
// anyone can compare an imported image with its source byte for byte.
import { createCipheriv, createHash } from 'node:crypto';
import { execa } from 'execa';
import { SparseFileWriter } from '../../functions/shared/disk/sparse-file.ts';
import { StagedWriter } from '../../functions/shared/disk/staged-writer.ts';
import { mkdir, rename, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ovaVms, type Inventory } from './inventory.ts';

export const BLOCK_BYTES = 1024 * 1024;

export interface DiskContentSpec {
  sizeMiB: number;
  allocatedPercent: number;
  seed: number;
}

/** 32-bit PRNG (mulberry32): small, fast and the same everywhere. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Indices of the 1 MiB blocks that hold data, ascending. */
export function allocatedBlocks(spec: DiskContentSpec): number[] {
  const blocks = spec.sizeMiB;
  const wanted = Math.round((blocks * spec.allocatedPercent) / 100);
  const order = Array.from({ length: blocks }, (_, i) => i);
  const random = prng(spec.seed);
  for (let i = blocks - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order.slice(0, wanted).sort((x, y) => x - y);
}

/** The data of one allocated block: an AES-128-CTR keystream keyed by the seed, unique per block. */
export function blockData(seed: number, block: number): Buffer {
  const key = createHash('sha256').update(`vm-import-disk-seed:${seed}`).digest().subarray(0, 16);
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(BigInt(block) * BigInt(BLOCK_BYTES / 16), 8);
  return createCipheriv('aes-128-ctr', key, iv).update(Buffer.alloc(BLOCK_BYTES));
}

/**
 * Writes the disk as a sparse raw file (zero blocks are holes), through the product's staged
 * writer: O_DIRECT where the file system allows, as multi-GiB fixtures are written once.
 */
export async function writeDiskContent(
  path: string,
  spec: DiskContentSpec,
): Promise<{ sizeBytes: number; allocatedBytes: number }> {
  const sizeBytes = spec.sizeMiB * BLOCK_BYTES;
  const blocks = allocatedBlocks(spec);
  await mkdir(dirname(path), { recursive: true });
  const writer = await SparseFileWriter.create(path);
  try {
    await writer.setSize(sizeBytes);
    const staged = new StagedWriter(writer);
    for (const block of blocks) await staged.put(blockData(spec.seed, block), block * BLOCK_BYTES);
    await staged.finish();
    await writer.finish();
  } catch (e) {
    await writer.discard();
    throw e;
  }
  return { sizeBytes, allocatedBytes: blocks.length * BLOCK_BYTES };
}

/**
 * The file a disk-content cache keeps for `spec` with extension `ext` (content is a pure function
 * of the spec, so the spec is the key): `<cacheDir>/<16 hex>.<ext>`.
 */
export function diskCachePath(cacheDir: string, spec: DiskContentSpec, ext = 'raw'): string {
  const key = createHash('sha256')
    .update(JSON.stringify([spec.sizeMiB, spec.allocatedPercent, spec.seed]))
    .digest('hex')
    .slice(0, 16);
  return join(cacheDir, `${key}.${ext}`);
}

/**
 * The raw file of `spec` in `cacheDir`, written first when absent (to a temporary name, then
 * renamed: a file under the final name is complete). Callers share it by link or copy and never
 * write to it.
 */
export async function cachedDiskContent(cacheDir: string, spec: DiskContentSpec): Promise<string> {
  const path = diskCachePath(cacheDir, spec);
  try {
    await stat(path);
    return path;
  } catch {
    const tmp = `${path}.${process.pid}.tmp`;
    await writeDiskContent(tmp, spec);
    await rename(tmp, path);
    return path;
  }
}

/** `qemu-img convert` of a raw file into a streamOptimized VMDK (what NFC exports and OVAs carry). */
export async function toStreamOptimizedVmdk(rawPath: string, vmdkPath: string): Promise<void> {
  await execa('qemu-img', [
    'convert',
    '-f',
    'raw',
    '-O',
    'vmdk',
    '-o',
    'subformat=streamOptimized',
    rawPath,
    vmdkPath,
  ]);
}

export interface MaterializedDisk {
  kind: 'vmware' | 'openstack' | 'ova';
  /** VM, server or OVA name (the OVA's file name without `.ova`; a vApp's VM name). */
  name: string;
  index: number;
  path: string;
  sizeBytes: number;
  allocatedBytes: number;
}

/** Writes `<root>/<vmware|openstack|ova>/<name>/disk-<i>.raw` for every disk of the inventory. */
export async function materializeSources(
  inventory: Inventory,
  root = '.local/sources',
): Promise<MaterializedDisk[]> {
  const jobs: Array<Omit<MaterializedDisk, 'sizeBytes' | 'allocatedBytes'> & { spec: DiskContentSpec }> = [];
  for (const vm of inventory.vmware?.vms ?? [])
    vm.disks.forEach((spec, index) => jobs.push({ kind: 'vmware', name: vm.name, index, spec, path: '' }));
  for (const server of inventory.openstack?.servers ?? []) {
    const disks = server.bootFromImage && server.rootDisk ? [server.rootDisk] : server.volumes;
    disks.forEach((spec, index) =>
      jobs.push({ kind: 'openstack', name: server.name, index, spec, path: '' }),
    );
  }
  for (const ova of inventory.ova ?? []) {
    for (const vm of ovaVms(ova))
      vm.disks.forEach((spec, index) => jobs.push({ kind: 'ova', name: vm.name, index, spec, path: '' }));
  }
  const written: MaterializedDisk[] = [];
  for (const { spec, ...job } of jobs) {
    const path = join(root, job.kind, job.name, `disk-${job.index}.raw`);
    written.push({ ...job, path, ...(await writeDiskContent(path, spec)) });
  }
  return written;
}
