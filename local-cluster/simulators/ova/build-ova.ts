// Builds an OVA the way a VMware export produces one, with real tools: deterministic raw disk
// content, `qemu-img convert` into the disk format (streamOptimized VMDK by default, as ovftool
// writes; monolithicSparse VMDK, raw or qcow2 as other tools do), optionally gzip-compressed and
// split into chunks (ovftool --compress / --chunkSize), an ovftool-style OVF of one VM or a vApp,
// a manifest of every stored member, and GNU tar in ustar format with the member order under control.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, open, rename, rm, stat, writeFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { toStreamOptimizedVmdk, writeDiskContent } from '../disk-content.ts';
import type { InventoryOva } from '../inventory.ts';
import {
  writeOvf,
  type OvaController,
  type OvaDiskFormat,
  type OvaNicType,
  type OvfVmSpec,
} from './ovf-writer.ts';

export interface OvaDiskSpec {
  sizeMiB: number;
  controller: OvaController;
  allocatedPercent: number;
  seed: number;
}

export interface OvaVmSpec {
  cpus: number;
  coresPerSocket?: number;
  memoryMiB: number;
  firmware: 'bios' | 'efi';
  secureBoot?: boolean;
  tpm?: boolean;
  /** vSphere guestId written as the OVF's vmw:osType (OperatingSystemSection). */
  osType?: string;
  disks: OvaDiskSpec[];
  nics: { network: string; type: OvaNicType; mac?: string }[];
}

export interface BuildOvaOptions {
  ovfVersion?: 1 | 2;
  /** Put the disks first and the manifest and OVF after them. */
  ovfLast?: boolean;
  /** Manifest digest algorithm; false = no manifest. Default sha256. */
  manifest?: 'sha1' | 'sha256' | 'sha512' | false;
  /** Index of a disk whose VMDK is altered after the manifest was computed. */
  corruptDisk?: number;
  /**
   * Keep the raw source content as `<rawDir>/disk-<i>.raw` (else it is deleted); for a vApp a
   * function of the VM's name.
   */
  rawDir?: string | ((vmName: string) => string);
  /** Format of the disk files (default streamOptimized). */
  diskFormat?: OvaDiskFormat;
  /** gzip the disk files (ovf:compression="gzip"). */
  compression?: 'gzip';
  /** Split the (compressed) disk files into chunks of this many bytes (ovf:chunkSize). */
  chunkSizeBytes?: number;
}

/** A VM of a vApp. */
export type OvaVappVmSpec = OvaVmSpec & { name: string };

const DISK_FILE_EXTENSION: Record<OvaDiskFormat, string> = {
  streamOptimized: 'vmdk',
  monolithicSparse: 'vmdk',
  raw: 'img',
  qcow2: 'qcow2',
};

/** Writes the raw disk at `rawPath` as `out` in `format`, with qemu-img as the tools do. */
async function writeDiskFile(rawPath: string, out: string, format: OvaDiskFormat): Promise<void> {
  if (format === 'streamOptimized') return toStreamOptimizedVmdk(rawPath, out);
  if (format === 'raw') return copyFile(rawPath, out);
  const args = format === 'qcow2' ? ['-O', 'qcow2'] : ['-O', 'vmdk', '-o', 'subformat=monolithicSparse'];
  await execa('qemu-img', ['convert', '-f', 'raw', ...args, rawPath, out]);
}

/** Splits `path` into `<path>.000000000`, … of `chunkSize` bytes (the last shorter); returns their names. */
async function splitIntoChunks(dir: string, name: string, chunkSize: number): Promise<string[]> {
  const size = (await stat(join(dir, name))).size;
  const names: string[] = [];
  const input = await open(join(dir, name), 'r');
  try {
    for (let offset = 0, i = 0; offset < size || i === 0; offset += chunkSize, i++) {
      const chunk = `${name}.${String(i).padStart(9, '0')}`;
      const length = Math.min(chunkSize, size - offset);
      await pipeline(
        createReadStream('', { fd: input.fd, start: offset, end: offset + length - 1, autoClose: false }),
        createWriteStream(join(dir, chunk)),
      );
      names.push(chunk);
    }
  } finally {
    await input.close();
  }
  await rm(join(dir, name));
  return names;
}

export interface BuiltOva {
  path: string;
  /** Tar members in archive order. */
  members: string[];
  disks: { fileName: string; sizeBytes: number; allocatedBytes: number; rawPath?: string }[];
}

async function digestFile(path: string, algorithm: string): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Flips bits in a byte of the VMDK header's padding: the disk still decodes, the digest differs. */
async function corruptVmdk(path: string): Promise<void> {
  const file = await open(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    await file.read(b, 0, 1, 300);
    b[0] = b[0]! ^ 0xa5;
    await file.write(b, 0, 1, 300);
  } finally {
    await file.close();
  }
}

export async function buildOva(args: {
  name: string;
  /** One VM, or `vms` for a vApp (VirtualSystemCollection named after the OVA). */
  vm?: OvaVmSpec;
  vms?: OvaVappVmSpec[];
  outPath: string;
  opts?: BuildOvaOptions;
}): Promise<BuiltOva> {
  const { outPath, opts = {} } = args;
  const ovaName = args.name.replace(/\.ova$/, '');
  const vms: OvaVappVmSpec[] = args.vms ?? (args.vm ? [{ ...args.vm, name: ovaName }] : []);
  if (vms.length === 0) throw new Error(`${args.name}: neither vm nor vms`);
  const format = opts.diskFormat ?? 'streamOptimized';
  const work = await mkdtemp(join(tmpdir(), 'ova-build-'));
  try {
    const disks: BuiltOva['disks'] = [];
    const storedMembers: string[] = [];
    const systems: OvfVmSpec[] = [];
    for (const vm of vms) {
      const rawDir = typeof opts.rawDir === 'function' ? opts.rawDir(vm.name) : opts.rawDir;
      if (rawDir) await mkdir(rawDir, { recursive: true });
      const ovfDisks = [];
      for (const [i, disk] of vm.disks.entries()) {
        const rawPath = rawDir ? join(rawDir, `disk-${i}.raw`) : join(work, `${vm.name}-disk-${i}.raw`);
        const content = await writeDiskContent(rawPath, disk);
        let fileName = `${vm.name}-disk${i + 1}.${DISK_FILE_EXTENSION[format]}`;
        await writeDiskFile(rawPath, join(work, fileName), format);
        if (opts.compression === 'gzip') {
          await pipeline(
            createReadStream(join(work, fileName)),
            createGzip(),
            createWriteStream(join(work, `${fileName}.gz`)),
          );
          await rm(join(work, fileName));
          fileName = `${fileName}.gz`;
        }
        const fileSize = (await stat(join(work, fileName))).size;
        storedMembers.push(
          ...(opts.chunkSizeBytes ? await splitIntoChunks(work, fileName, opts.chunkSizeBytes) : [fileName]),
        );
        disks.push({ fileName, ...content, ...(rawDir ? { rawPath } : {}) });
        ovfDisks.push({
          controller: disk.controller,
          capacityBytes: content.sizeBytes,
          populatedBytes: content.allocatedBytes,
          fileName,
          fileSize,
        });
        if (!rawDir) await rm(rawPath);
      }
      systems.push({
        name: vm.name,
        cpus: vm.cpus,
        ...(vm.coresPerSocket !== undefined ? { coresPerSocket: vm.coresPerSocket } : {}),
        memoryMiB: vm.memoryMiB,
        firmware: vm.firmware,
        ...(vm.secureBoot !== undefined ? { secureBoot: vm.secureBoot } : {}),
        ...(vm.tpm !== undefined ? { tpm: vm.tpm } : {}),
        ...(vm.osType !== undefined ? { osType: vm.osType } : {}),
        disks: ovfDisks,
        nics: vm.nics,
      });
    }
    const ovfName = `${ovaName}.ovf`;
    const ovf = writeOvf(args.vms ? systems : systems[0]!, opts.ovfVersion ?? 1, {
      diskFormat: format,
      ...(opts.compression ? { compression: opts.compression } : {}),
      ...(opts.chunkSizeBytes ? { chunkSizeBytes: opts.chunkSizeBytes } : {}),
      ...(args.vms ? { vappName: ovaName } : {}),
    });
    await writeFile(join(work, ovfName), ovf);

    const algorithm = opts.manifest ?? 'sha256';
    const mfName = `${ovaName}.mf`;
    if (algorithm !== false) {
      const label = algorithm.toUpperCase();
      const lines = [];
      for (const f of [ovfName, ...storedMembers]) {
        lines.push(`${label}(${f})= ${await digestFile(join(work, f), algorithm)}\n`);
      }
      await writeFile(join(work, mfName), lines.join(''));
    }
    if (opts.corruptDisk !== undefined) {
      const target = disks[opts.corruptDisk];
      if (!target) throw new Error(`corruptDisk ${opts.corruptDisk}: no such disk`);
      await corruptVmdk(join(work, opts.chunkSizeBytes ? `${target.fileName}.000000000` : target.fileName));
    }

    const meta = algorithm === false ? [ovfName] : [ovfName, mfName];
    const members = opts.ovfLast ? [...storedMembers, ...meta.reverse()] : [...meta, ...storedMembers];
    await mkdir(dirname(outPath), { recursive: true });
    const tmpOut = `${outPath}.partial`;
    await execa('tar', [
      '--format=ustar',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '-cf',
      tmpOut,
      '-C',
      work,
      ...members,
    ]);
    await rename(tmpOut, outPath);
    return { path: outPath, members, disks };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Builds the OVA an inventory entry describes (spec/local-stack.md "Inventory file"): one VM or a
 * vApp, its disk format, compression and chunking. `sourcesRoot` keeps each VM's raw disks as
 * `<sourcesRoot>/ova/<vm name>/disk-<i>.raw`.
 */
export async function buildInventoryOva(
  ova: InventoryOva,
  outPath: string,
  sourcesRoot?: string,
): Promise<BuiltOva> {
  return buildOva({
    name: ova.name,
    ...(ova.vms ? { vms: ova.vms } : ova.vm ? { vm: ova.vm } : {}),
    outPath,
    opts: {
      ...(sourcesRoot ? { rawDir: (vmName: string) => join(sourcesRoot, 'ova', vmName) } : {}),
      diskFormat: ova.diskFormat,
      ...(ova.compression ? { compression: ova.compression } : {}),
      ...(ova.chunkSizeMiB ? { chunkSizeBytes: ova.chunkSizeMiB * 2 ** 20 } : {}),
    },
  });
}
