// Converting a disk image a source sent (a Glance qcow2, vmdk, ...) to raw, safely. Image formats
// can name other files or network places: a qcow2 backing file or external data file (a path or a
// "json:{...}" spec with any block driver, nbd and http included), a VMDK descriptor's extents.
// qemu-img would open them and copy what they hold into our disk. So before any convert:
//   1. our own look at the first bytes: the magic must be the declared format's; a qcow2 header
//      with a backing file or the external-data-file bit, or a VMDK text descriptor, is refused
//      (without starting qemu-img at all, which opens data files and extents even for `info`);
//   2. `qemu-img info --output=json` (no backing chain) must agree: no backing file, no data
//      file, no extent other than the file itself, the declared format, a bounded virtual size;
//   3. convert with the format forced (-f), from our own local path.
import { open, rm } from 'node:fs/promises';
import { execa } from 'execa';
import type { ReasonsOf } from '../condition-reasons.ts';
import { z } from 'zod';
import { MAX_DISK_BYTES } from '../limits.ts';

/** qemu-img format names of the image formats we convert. */
export type ForeignFormat = 'qcow2' | 'vmdk' | 'vdi' | 'vpc' | 'vhdx';

/** Glance disk_format → qemu-img format; raw is written directly and needs no conversion. */
const GLANCE_FORMATS: Record<string, ForeignFormat> = {
  qcow2: 'qcow2',
  vmdk: 'vmdk',
  vdi: 'vdi',
  vhd: 'vpc',
  vhdx: 'vhdx',
};

/** A refusal with a condition reason and a message that names no internal path. */
export class UnsafeImageError extends Error {
  constructor(
    readonly reason: ReasonsOf<'UnsafeDiskImage' | 'UnsupportedDiskFormat' | 'CorruptDiskImage'>,
    message: string,
  ) {
    super(message);
    this.name = 'UnsafeImageError';
  }
}

/** The qemu-img format for a Glance disk_format, or UnsupportedDiskFormat. */
export function qemuFormatForGlance(diskFormat: string): ForeignFormat {
  const f = GLANCE_FORMATS[diskFormat];
  if (!f) {
    throw new UnsafeImageError(
      'UnsupportedDiskFormat',
      `disk_format "${diskFormat.slice(0, 40)}" cannot be imported; supported are raw, ${Object.keys(GLANCE_FORMATS).join(', ')}`,
    );
  }
  return f;
}

const unsafe = (what: string) => new UnsafeImageError('UnsafeDiskImage', what);

const QCOW2_MAGIC = 0x514649fb;
const QCOW2_INCOMPAT_DATA_FILE = 1n << 2n;

/** Step 1: the header bytes, read by us. `what` names the image in messages. */
export function checkImageHeader(head: Buffer, format: ForeignFormat, what: string): void {
  const text = head.subarray(0, 1024).toString('latin1');
  if (format === 'qcow2') {
    if (head.length < 104 || head.readUInt32BE(0) !== QCOW2_MAGIC)
      throw unsafe(`${what} is not a qcow2 image`);
    const version = head.readUInt32BE(4);
    if (head.readBigUInt64BE(8) !== 0n || head.readUInt32BE(16) !== 0)
      throw unsafe(`${what} names a backing file; images that read other files are refused`);
    if (version >= 3 && (head.readBigUInt64BE(72) & QCOW2_INCOMPAT_DATA_FILE) !== 0n)
      throw unsafe(`${what} keeps its data in an external data file; such images are refused`);
    return;
  }
  if (format === 'vmdk') {
    // A sparse extent (magic "KDMV") is its own single extent; anything else is refused, a text
    // descriptor (whose extents are other files) by name.
    if (head.length >= 4 && head.readUInt32LE(0) === 0x564d444b) return;
    if (/^\s*#\s*Disk DescriptorFile/i.test(text) || /createType\s*=/.test(text))
      throw unsafe(
        `${what} is a VMDK descriptor whose extents are other files; only single-file VMDKs are accepted`,
      );
    throw unsafe(`${what} is not a sparse VMDK`);
  }
  if (format === 'vdi' && !(head.length >= 68 && head.readUInt32LE(64) === 0xbeda107f))
    throw unsafe(`${what} is not a VDI image`);
  if (format === 'vhdx' && text.slice(0, 8) !== 'vhdxfile') throw unsafe(`${what} is not a VHDX image`);
  // vpc (VHD): a fixed VHD has its footer only at the end; qemu-img info checks it below.
}

const InfoSchema = z.object({
  format: z.string(),
  'virtual-size': z.number(),
  filename: z.string(),
  'backing-filename': z.string().optional(),
  'full-backing-filename': z.string().optional(),
  'format-specific': z
    .object({
      type: z.string(),
      data: z
        .object({
          'data-file': z.string().optional(),
          extents: z.array(z.object({ filename: z.string() }).loose()).optional(),
        })
        .loose()
        .optional(),
    })
    .loose()
    .optional(),
});
export type QemuImageInfo = z.infer<typeof InfoSchema>;

/** Step 2: what `qemu-img info` says must agree with a self-contained image of `format`. */
export function checkImageInfo(info: QemuImageInfo, path: string, format: ForeignFormat, what: string): void {
  if (info.format !== format) throw unsafe(`${what} is not a ${format} image (qemu-img sees ${info.format})`);
  if (info['backing-filename'] !== undefined || info['full-backing-filename'] !== undefined)
    throw unsafe(`${what} names a backing file; images that read other files are refused`);
  const data = info['format-specific']?.data;
  if (data?.['data-file'] !== undefined)
    throw unsafe(`${what} keeps its data in an external data file; such images are refused`);
  if (data?.extents?.some((e) => e.filename !== path))
    throw unsafe(`${what} has extents in other files; only single-file images are accepted`);
  if (
    !Number.isSafeInteger(info['virtual-size']) ||
    info['virtual-size'] <= 0 ||
    info['virtual-size'] > MAX_DISK_BYTES
  )
    throw unsafe(
      `${what} claims a virtual size of ${info['virtual-size']} bytes, outside 1-${MAX_DISK_BYTES}`,
    );
}

/**
 * Converts the image at `path` (declared `format`) into the raw file `outPath` after steps 1
 * and 2. Throws UnsafeImageError for a refused image; qemu-img failures are rethrown as Errors
 * whose messages name no path.
 */
export async function convertForeignImage(
  path: string,
  format: ForeignFormat,
  outPath: string,
  what: string,
  signal?: AbortSignal,
): Promise<{ virtualSizeBytes: number }> {
  const file = await open(path, 'r');
  let head: Buffer;
  try {
    const buf = Buffer.alloc(4096);
    const { bytesRead } = await file.read(buf, 0, buf.length, 0);
    head = buf.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
  checkImageHeader(head, format, what);
  const info = await qemuImg(['info', '--output=json', '-f', format, path], what, signal);
  let parsed: QemuImageInfo;
  try {
    parsed = InfoSchema.parse(JSON.parse(info));
  } catch {
    throw unsafe(`qemu-img could not describe ${what}`);
  }
  checkImageInfo(parsed, path, format, what);
  try {
    await qemuImg(['convert', '-f', format, '-O', 'raw', path, outPath], what, signal);
  } catch (e) {
    await rm(outPath, { force: true });
    throw e;
  }
  return { virtualSizeBytes: parsed['virtual-size'] };
}

async function qemuImg(args: string[], what: string, signal?: AbortSignal): Promise<string> {
  const r = await execa('qemu-img', args, { reject: false, ...(signal ? { cancelSignal: signal } : {}) });
  if (r.isCanceled) throw signal?.reason instanceof Error ? signal.reason : new Error('cancelled');
  if (r.exitCode !== 0) {
    // qemu-img's message names our paths: keep only its last clause.
    const detail = String(r.stderr).split(':').pop()?.trim() ?? '';
    throw new UnsafeImageError(
      'CorruptDiskImage',
      `qemu-img ${args[0]} of ${what} failed${detail ? `: ${detail}` : ''}`,
    );
  }
  return String(r.stdout);
}
