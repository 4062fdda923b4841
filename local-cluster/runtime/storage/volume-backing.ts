// The bytes behind a provisioned volume, sized as requested so that running out of space is real:
//  * Filesystem: an ext4 file system in a sparse image file of the requested size, loop-mounted at
//    the volume's directory (formatted as the kubelet's mount-utils formats a CSI volume:
//    k8s.io/mount-utils mount_linux.go formatAndMountSensitive, `mkfs.ext4 -F -m0`). A write
//    beyond it fails with ENOSPC.
//  * Block: the device's content, a file of exactly the requested size (shown as `disk.img` in the
//    volume's directory); a pod gets it as a loop device (attachBlockDevice) at
//    volumeDevices[].devicePath.
// Both live on the node's data disk (ensureDataDisk): an ext4 file system of a fixed size, as the
// disk Longhorn schedules replicas to, so that the space the volumes use and what is left is the
// same on every machine, and overcommitted volumes run out of it (ENOSPC) as on a full Longhorn disk.
// Needs root (mount, losetup). The mounts and loop devices are released by the provisioner when a
// volume is deleted, by releaseAll when the cluster stops, and by sweepStale for those of a run
// that was killed (their cluster's PID file names a process that is gone).
import { execFile } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import {
  copyFile,
  mkdir,
  readFile,
  readdir,
  rename,
  rm,
  stat,
  symlink,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import type { VolumeMode } from './provision-rules.ts';

const run = promisify(execFile);

/** The ext4 image of a Filesystem volume, beside (not inside) the directory it is mounted on. */
const imageFile = (backingDir: string, ns: string, claim: string) => join(backingDir, ns, `${claim}.ext4`);
/** The claim a volume was made for (a claim re-created under the same name gets a new one). */
const ownerFile = (backingDir: string, ns: string, claim: string) => join(backingDir, ns, `${claim}.owner`);
/** The content of a Block volume. */
const blockFile = (backingDir: string, ns: string, claim: string) => join(backingDir, ns, `${claim}.img`);
/** How a Block volume's content shows in its directory (a link to blockFile). */
export const BLOCK_FILE = 'disk.img';
const DATA_DISK_FILE = 'data-disk.ext4';
/**
 * mount-utils' `mkfs.ext4 -F -m0`, plus lazy inode-table and journal initialisation: the sparse
 * image then takes ~5 MiB of the host's disk for 100 GiB instead of ~520 MiB (the journal is not
 * zeroed up front; the kernel initialises the rest in the background).
 */
const MKFS_EXT4 = ['-q', '-F', '-m0', '-E', 'lazy_itable_init=1,lazy_journal_init=1'];

export interface VolumeLocation {
  /** .local/volumes: what pods see (mount points; Block volumes' disk.img). */
  volumesDir: string;
  /** .local/volume-backing: ext4 images and owner files. */
  backingDir: string;
  namespace: string;
  claim: string;
}

const volumeDir = (l: VolumeLocation) => join(l.volumesDir, l.namespace, l.claim);

/** The claim UID the volume at `l` belongs to, if any. */
export async function volumeOwner(l: VolumeLocation): Promise<string | undefined> {
  return readFile(ownerFile(l.backingDir, l.namespace, l.claim), 'utf8').catch(() => undefined);
}

async function isMountPoint(dir: string): Promise<boolean> {
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  return mounts.split('\n').some((line) => unescapeMountPath(line.split(' ')[4] ?? '') === dir);
}

/** /proc/self/mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * Makes an empty volume of `bytes` for claim `uid` (replacing what an earlier claim of the name
 * left), or keeps the one this claim already has. `fill` writes its initial content: Block gets
 * the device file to write, Filesystem the mounted directory.
 */
export async function createVolume(
  l: VolumeLocation,
  uid: string,
  mode: VolumeMode,
  bytes: number,
  fill?: (target: string) => Promise<void>,
): Promise<void> {
  const dir = volumeDir(l);
  if ((await volumeOwner(l)) === uid) {
    if (mode === 'Filesystem' && !(await isMountPoint(dir))) await mountImage(l);
    return;
  }
  await removeVolume(l);
  await mkdir(dir, { recursive: true });
  await mkdir(join(l.backingDir, l.namespace), { recursive: true });
  if (mode === 'Block') {
    const device = blockFile(l.backingDir, l.namespace, l.claim);
    if (fill) await fill(device);
    await writeFile(device, '', { flag: 'a' });
    // The device is exactly the requested size: content beyond it (a larger image) was refused
    // before; a shorter one is zero-padded, sparsely.
    await truncate(device, bytes);
    await symlink(relative(dir, device), join(dir, BLOCK_FILE));
  } else {
    const image = imageFile(l.backingDir, l.namespace, l.claim);
    await writeFile(image, '');
    await truncate(image, bytes);
    await run('mkfs.ext4', [...MKFS_EXT4, image]);
    await mountImage(l);
    if (fill) await fill(dir);
  }
  await writeFile(ownerFile(l.backingDir, l.namespace, l.claim), uid);
}

/**
 * A CSI clone: the source volume's bytes, grown to `bytes` (the file system too). Same mode as
 * the source (external-provisioner refuses otherwise).
 */
export async function cloneVolume(
  source: VolumeLocation,
  target: VolumeLocation,
  uid: string,
  mode: VolumeMode,
  bytes: number,
): Promise<void> {
  if ((await volumeOwner(target)) === uid) return createVolume(target, uid, mode, bytes);
  await removeVolume(target);
  if (mode === 'Block') {
    return createVolume(target, uid, mode, bytes, (device) =>
      cloneFile(blockFile(source.backingDir, source.namespace, source.claim), device),
    );
  }
  const image = imageFile(target.backingDir, target.namespace, target.claim);
  await mkdir(dirname(image), { recursive: true });
  await mkdir(volumeDir(target), { recursive: true });
  // A mounted ext4 may have dirty pages: sync the source's file system before copying its image.
  await run('sync', ['-f', join(volumeDir(source), '.')]);
  await cloneFile(imageFile(source.backingDir, source.namespace, source.claim), image);
  if ((await stat(image)).size < bytes) {
    await truncate(image, bytes);
    await run('e2fsck', ['-f', '-p', image]).catch((e: { code?: number }) => {
      if ((e.code ?? 0) > 1) throw e; // 1: errors corrected (the copy of a mounted file system)
    });
    await run('resize2fs', [image]);
  }
  await mountImage(target);
  await writeFile(ownerFile(target.backingDir, target.namespace, target.claim), uid);
}

async function mountImage(l: VolumeLocation): Promise<void> {
  const dir = volumeDir(l);
  await mkdir(dir, { recursive: true });
  // -o loop: the loop device goes with the mount (autoclear). discard: what a pod deletes is
  // punched out of the image, and a deleted volume out of the data disk, so the host gets the
  // space back (without it the sparse images only ever grow).
  await run('mount', ['-o', 'loop,discard', imageFile(l.backingDir, l.namespace, l.claim), dir]);
}

/** Unmounts, detaches and deletes the volume's data. */
export async function removeVolume(l: VolumeLocation): Promise<void> {
  const dir = volumeDir(l);
  await detachBlockDevices(blockFile(l.backingDir, l.namespace, l.claim));
  if (await isMountPoint(dir)) await run('umount', [dir]);
  await rm(dir, { recursive: true, force: true });
  await rm(imageFile(l.backingDir, l.namespace, l.claim), { force: true });
  await rm(blockFile(l.backingDir, l.namespace, l.claim), { force: true });
  await rm(ownerFile(l.backingDir, l.namespace, l.claim), { force: true });
}

/** The loop devices backed by `file` (losetup --associated). */
async function loopDevicesOf(file: string): Promise<string[]> {
  const { stdout } = await run('losetup', ['--noheadings', '--output', 'NAME', '--associated', file]).catch(
    () => ({ stdout: '' }),
  );
  return stdout.split('\n').filter(Boolean);
}

async function detachBlockDevices(file: string): Promise<void> {
  for (const dev of await loopDevicesOf(file)) await run('losetup', ['--detach', dev]).catch(() => undefined);
}

/**
 * The loop device of a Block volume for a pod, owned by the pod's user and group as containerd
 * does with device_ownership_from_security_context (the setting KubeVirt asks for on its nodes).
 */
export async function attachBlockDevice(
  l: VolumeLocation,
  owner: { uid: number; gid: number },
): Promise<string> {
  const file = blockFile(l.backingDir, l.namespace, l.claim);
  let [dev] = await loopDevicesOf(file);
  if (!dev) dev = (await run('losetup', ['--find', '--show', file])).stdout.trim();
  await run('chown', [`${owner.uid}:${owner.gid}`, dev]);
  return dev;
}

/**
 * Every volume under `volumesDir` (and `backingDir`'s block files): unmount and detach; then the
 * data disk. The data stays for the next start.
 */
export async function releaseAll(volumesDir: string, backingDir: string): Promise<void> {
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  const prefix = `${volumesDir}/`;
  const mounted = mounts
    .split('\n')
    .map((line) => unescapeMountPath(line.split(' ')[4] ?? ''))
    .filter((p) => p.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
  for (const dir of mounted) await run('umount', [dir]).catch(() => run('umount', ['--lazy', dir]));
  for (const ns of await readdir(backingDir).catch(() => [] as string[]))
    for (const f of await readdir(join(backingDir, ns)).catch(() => [] as string[]))
      if (f.endsWith('.img')) await detachBlockDevices(join(backingDir, ns, f));
  if (await isMountPoint(backingDir))
    await run('umount', [backingDir]).catch(() => run('umount', ['--lazy', backingDir]));
}

/**
 * The node's data disk: `<stateDir>/data-disk.ext4`, a sparse ext4 image of `bytes` (made once;
 * kept across restarts with the volumes on it), mounted at `backingDir`.
 */
export async function ensureDataDisk(stateDir: string, backingDir: string, bytes: number): Promise<void> {
  await mkdir(backingDir, { recursive: true });
  if (await isMountPoint(backingDir)) return;
  const image = join(stateDir, DATA_DISK_FILE);
  const exists = await stat(image).then(
    () => true,
    () => false,
  );
  if (!exists) {
    await writeFile(`${image}.tmp`, '');
    await truncate(`${image}.tmp`, bytes);
    await run('mkfs.ext4', [...MKFS_EXT4, `${image}.tmp`]);
    await rename(`${image}.tmp`, image);
  }
  await run('mount', ['-o', 'loop,discard', image, backingDir]);
}

const PID_FILE = 'storage.pid';

/** Records that this process holds the mounts of `stateDir` (for sweepStale). */
export async function claimStateDir(stateDir: string): Promise<void> {
  await mkdir(stateDir, { recursive: true });
  await writeFile(join(stateDir, PID_FILE), String(process.pid));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Mounts and loop devices a killed run left: every loop device whose backing file is a volume of
 * a state directory whose storage PID file names no live process (or that is gone) is unmounted
 * and detached. Another live cluster's volumes are left alone.
 */
export async function sweepStale(
  log: (message: string, fields: Record<string, unknown>) => void,
): Promise<void> {
  const { stdout } = await run('losetup', ['--list', '--json', '--output', 'NAME,BACK-FILE']).catch(() => ({
    stdout: '{"loopdevices":[]}',
  }));
  const devices =
    (JSON.parse(stdout || '{"loopdevices":[]}') as { loopdevices?: { name: string; 'back-file'?: string }[] })
      .loopdevices ?? [];
  const mounts = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').map((line) => line.split(' '));
  // The volumes on a data disk before the data disk.
  devices.sort(
    (a, b) => Number(/data-disk/.test(a['back-file'] ?? '')) - Number(/data-disk/.test(b['back-file'] ?? '')),
  );
  for (const d of devices) {
    const back = (d['back-file'] ?? '').replace(/ \(deleted\)$/, '');
    // A volume's image or block file on the data disk, or the data disk itself.
    const m = /^(.*)\/volume-backing\/[^/]+\/[^/]+$|^(.*)\/data-disk\.ext4$/.exec(back);
    const stateDir = m?.[1] ?? m?.[2];
    if (!stateDir) continue;
    const pid = Number(await readFile(join(stateDir, PID_FILE), 'utf8').catch(() => '0'));
    if (pid && alive(pid)) continue;
    // The mount's source in mountinfo is field 9 after the separator: find mounts of this device.
    for (const fields of mounts) {
      const sep = fields.indexOf('-');
      if (sep > 0 && fields[sep + 2] === d.name)
        await run('umount', ['--lazy', unescapeMountPath(fields[4]!)]).catch(() => undefined);
    }
    await run('losetup', ['--detach', d.name]).catch(() => undefined);
    log('stale volume released', { device: d.name, backingFile: back });
  }
}

/** Reflink when the file system can, else a sparse copy (cp --sparse=always). */
export async function cloneFile(from: string, to: string): Promise<void> {
  const tmp = `${to}.tmp`;
  try {
    await copyFile(from, tmp, fsConstants.COPYFILE_FICLONE_FORCE);
  } catch {
    await run('cp', ['--sparse=always', from, tmp]);
  }
  await rename(tmp, to);
}
