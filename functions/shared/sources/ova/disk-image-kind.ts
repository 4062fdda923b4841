// Which kind of disk image an OVA's disk file holds. The OVF's DiskSection/Disk@format URI says
// what the writer meant (and is checked first, for an early clear refusal); the file's first bytes
// decide, because writers label images loosely (OVF 0.9 exports say "#sparse" for what are
// streamOptimized VMDKs). Pure.
import { SourceError } from '../source-error.ts';

/**
 * streamOptimizedVmdk and raw are decoded while they stream; sparseVmdk (monolithicSparse,
 * hosted) and qcow2 keep their block tables apart from the data, so they are staged to scratch
 * and converted by qemu-img.
 */
export type DiskImageKind = 'streamOptimizedVmdk' | 'sparseVmdk' | 'qcow2' | 'raw';

/** What the OVF declares: a family, not yet the exact kind. */
export type DeclaredFormat = 'vmdk' | 'qcow2' | 'raw';

/** Bytes of an image's start that sniffDiskImage needs. */
export const DISK_IMAGE_HEAD_BYTES = 512;

const VMDK_MAGIC = 0x564d444b; // "KDMV" little-endian
const VMDK_FLAG_COMPRESSED = 1 << 16;
const VMDK_FLAG_MARKERS = 1 << 17;
const QCOW_MAGIC = 0x514649fb; // "QFI\xfb"

const SUPPORTED =
  'streamOptimized or monolithicSparse VMDK (…/vmdk.html#streamOptimized, #sparse), qcow2 (…/qcow-image-format.html) and raw (http://en.wikipedia.org/wiki/Byte)';

/** DiskSection/Disk@format (lower-cased) → format family; undefined when the OVF names none. */
export function declaredFormat(format: string | undefined, file: string): DeclaredFormat | undefined {
  if (format === undefined || format === '') return undefined;
  if (/vmdk/.test(format) && !/flat/.test(format)) return 'vmdk';
  if (/qcow/.test(format)) return 'qcow2';
  // oVirt / RHV write the CIM "Byte" page for raw images; others write "raw".
  if (format === 'http://en.wikipedia.org/wiki/byte' || /(^|[^a-z])raw([^a-z]|$)/.test(format)) return 'raw';
  throw new SourceError(
    'UnsupportedDiskFormat',
    `disk file "${file}" has format "${format.slice(0, 120)}"; supported are ${SUPPORTED}`,
  );
}

/** The image kind from its first bytes (at least DISK_IMAGE_HEAD_BYTES unless the file is shorter). */
export function sniffDiskImage(
  head: Buffer,
  declared: DeclaredFormat | undefined,
  file: string,
): DiskImageKind {
  const mismatch = (found: string): SourceError =>
    new SourceError(
      'UnsupportedDiskFormat',
      `disk file "${file}" is ${found}, but the OVF declares it ${declared === 'raw' ? 'a raw image' : `a ${declared} image`}`,
    );
  if (head.length >= 12 && head.readUInt32LE(0) === VMDK_MAGIC) {
    if (declared === 'qcow2' || declared === 'raw') throw mismatch('a VMDK');
    const flags = head.readUInt32LE(8);
    return flags & VMDK_FLAG_COMPRESSED && flags & VMDK_FLAG_MARKERS ? 'streamOptimizedVmdk' : 'sparseVmdk';
  }
  if (head.length >= 4 && head.readUInt32BE(0) === QCOW_MAGIC) {
    if (declared !== undefined && declared !== 'qcow2') throw mismatch('a qcow2 image');
    return 'qcow2';
  }
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b && declared !== 'raw') {
    throw new SourceError(
      'UnsupportedDiskFormat',
      `disk file "${file}" is gzip-compressed, but the OVF does not say so (ovf:compression="gzip" on its File)`,
    );
  }
  if (/^\s*#\s*Disk DescriptorFile/i.test(head.subarray(0, 64).toString('latin1'))) {
    throw new SourceError(
      'UnsupportedDiskFormat',
      `disk file "${file}" is a VMDK text descriptor whose data lives in other files; only single-file VMDKs are supported`,
    );
  }
  if (declared === 'raw') return 'raw';
  // Declared (or, before the OVF, named) a VMDK: the streamOptimized decoder names what is wrong.
  if (declared === 'vmdk') return 'streamOptimizedVmdk';
  throw new SourceError(
    'UnsupportedDiskFormat',
    `disk file "${file}" is not a VMDK or qcow2 image and the OVF does not declare it raw; supported are ${SUPPORTED}`,
  );
}

/**
 * Whether a disk the OVF declares with `format` may be staged to scratch before conversion (and
 * so need its image file's size on top of the disk's). A VMDK not declared streamOptimized may be
 * a monolithicSparse one; an undeclared format is almost always streamOptimized VMDK.
 */
export function mayBeStaged(format: string | undefined): boolean {
  if (format === undefined || format === '') return false;
  if (/qcow/.test(format)) return true;
  return /vmdk/.test(format) && !/streamoptimized/.test(format);
}
