// Builds an OVA the way a VMware export produces one, with real tools: deterministic raw disk
// content, `qemu-img convert -O vmdk -o subformat=streamOptimized`, an ovftool-style OVF, a
// manifest, and GNU tar in ustar format with the member order under control.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { toStreamOptimizedVmdk, writeDiskContent } from '../disk-content.ts';
import { writeOvf, type OvaController, type OvaNicType } from './ovf-writer.ts';

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
  /** Keep the raw source content as `<rawDir>/disk-<i>.raw` (else it is deleted). */
  rawDir?: string;
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
  vm: OvaVmSpec;
  outPath: string;
  opts?: BuildOvaOptions;
}): Promise<BuiltOva> {
  const { vm, outPath, opts = {} } = args;
  const vmName = args.name.replace(/\.ova$/, '');
  const work = await mkdtemp(join(tmpdir(), 'ova-build-'));
  try {
    const disks: BuiltOva['disks'] = [];
    const ovfDisks = [];
    for (const [i, disk] of vm.disks.entries()) {
      const rawPath = opts.rawDir ? join(opts.rawDir, `disk-${i}.raw`) : join(work, `disk-${i}.raw`);
      const content = await writeDiskContent(rawPath, disk);
      const fileName = `${vmName}-disk${i + 1}.vmdk`;
      const vmdk = join(work, fileName);
      await toStreamOptimizedVmdk(rawPath, vmdk);
      const fileSize = (await stat(vmdk)).size;
      disks.push({ fileName, ...content, ...(opts.rawDir ? { rawPath } : {}) });
      ovfDisks.push({
        controller: disk.controller,
        capacityBytes: content.sizeBytes,
        populatedBytes: content.allocatedBytes,
        fileName,
        fileSize,
      });
      if (!opts.rawDir) await rm(rawPath);
    }
    const ovfName = `${vmName}.ovf`;
    const ovf = writeOvf(
      {
        name: vmName,
        cpus: vm.cpus,
        ...(vm.coresPerSocket !== undefined ? { coresPerSocket: vm.coresPerSocket } : {}),
        memoryMiB: vm.memoryMiB,
        firmware: vm.firmware,
        ...(vm.secureBoot !== undefined ? { secureBoot: vm.secureBoot } : {}),
        ...(vm.tpm !== undefined ? { tpm: vm.tpm } : {}),
        ...(vm.osType !== undefined ? { osType: vm.osType } : {}),
        disks: ovfDisks,
        nics: vm.nics,
      },
      opts.ovfVersion ?? 1,
    );
    await writeFile(join(work, ovfName), ovf);

    const algorithm = opts.manifest ?? 'sha256';
    const mfName = `${vmName}.mf`;
    if (algorithm !== false) {
      const label = algorithm.toUpperCase();
      const lines = [];
      for (const f of [ovfName, ...disks.map((d) => d.fileName)]) {
        lines.push(`${label}(${f})= ${await digestFile(join(work, f), algorithm)}\n`);
      }
      await writeFile(join(work, mfName), lines.join(''));
    }
    if (opts.corruptDisk !== undefined) {
      const target = disks[opts.corruptDisk];
      if (!target) throw new Error(`corruptDisk ${opts.corruptDisk}: no such disk`);
      await corruptVmdk(join(work, target.fileName));
    }

    const meta = algorithm === false ? [ovfName] : [ovfName, mfName];
    const diskFiles = disks.map((d) => d.fileName);
    const members = opts.ovfLast ? [...diskFiles, ...meta.reverse()] : [...meta, ...diskFiles];
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
