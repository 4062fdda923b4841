// One disk image from the archive → a sparse raw file on the scratch volume: streamOptimized
// VMDK and raw are decoded as they stream in; monolithicSparse VMDK and qcow2 (whose tables are
// not in stream order) are staged to scratch and converted by qemu-img.
import { createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { decodeStreamOptimizedVmdk } from '../../disk/vmdk-stream.ts';
import { convertForeignImage } from '../../disk/foreign-image.ts';
import { writeSparseRaw } from '../../disk/sparse-raw.ts';
import {
  MAX_DISK_IMAGE_OVERHEAD_BYTES,
  MAX_DISK_IMAGE_OVERHEAD_FRACTION,
  MAX_DISK_SIZE_DISAGREEMENT_BYTES,
} from '../../limits.ts';
import { SourceError } from '../source-error.ts';
import { boundedBytes } from './byte-streams.ts';
import type { DiskImageKind } from './disk-image-kind.ts';
import type { OvfDisk } from './ovf-disks.ts';

export interface DecodedSize {
  virtualSizeBytes: number;
  allocatedBytes: number;
}

export interface DecodeTarget {
  /** The disk file's name, for messages. */
  name: string;
  /** The OVF's disk, when the descriptor has been read (only streamOptimized VMDKs come before it). */
  ovfDisk: OvfDisk | undefined;
  /** The sparse raw file to write. */
  rawPath: string;
  /** Where a staged image is kept until converted; removed afterwards. */
  stagePath: string;
  signal?: AbortSignal | undefined;
  /** Called when a staged image starts converting. */
  onConverting: () => void;
}

/** The most bytes an image file of a disk of `capacityBytes` may hold (limits.ts). */
export function maxImageFileBytes(capacityBytes: number): number {
  return Math.ceil(capacityBytes * (1 + MAX_DISK_IMAGE_OVERHEAD_FRACTION)) + MAX_DISK_IMAGE_OVERHEAD_BYTES;
}

/**
 * The OVF's capacity and the VMDK header's must agree (up to MAX_DISK_SIZE_DISAGREEMENT_BYTES of
 * unit rounding): when they do not, one of them is wrong and no size can be trusted.
 */
export function checkDiskSize(name: string, vmdkBytes: number, ovfBytes: number): void {
  if (Math.abs(vmdkBytes - ovfBytes) <= MAX_DISK_SIZE_DISAGREEMENT_BYTES) return;
  throw new SourceError(
    'DiskSizeMismatch',
    `disk file "${name}" holds a disk of ${vmdkBytes} bytes but the OVF gives it a capacity of ${ovfBytes} bytes; one of the two is wrong: export the OVA again`,
  );
}

/** Writes the disk image in `stream`, of kind `kind`, as the sparse raw file `target.rawPath`. */
export async function decodeDiskImage(
  kind: DiskImageKind,
  stream: AsyncIterable<Uint8Array>,
  target: DecodeTarget,
): Promise<DecodedSize> {
  const { name, ovfDisk, rawPath, stagePath, signal } = target;
  if (kind === 'streamOptimizedVmdk') {
    return decodeStreamOptimizedVmdk(stream, rawPath, {
      ...(signal ? { signal } : {}),
      // Refused before anything is written when the OVF (read already) says another size.
      ...(ovfDisk ? { onHeader: (size: number) => checkDiskSize(name, size, ovfDisk.capacityBytes) } : {}),
    });
  }
  if (!ovfDisk) {
    throw new SourceError(
      'UnsupportedOva',
      `disk file "${name}" comes before the OVF descriptor and is not a streamOptimized VMDK; only those can be read before the OVF (which the OVF standard puts first): repack the OVA with the .ovf first`,
    );
  }
  if (kind === 'raw') {
    const r = await writeSparseRaw(stream, rawPath, {
      maxBytes: ovfDisk.capacityBytes + MAX_DISK_SIZE_DISAGREEMENT_BYTES,
      ...(signal ? { signal } : {}),
    });
    return { virtualSizeBytes: r.sizeBytes, allocatedBytes: r.allocatedBytes };
  }
  // monolithicSparse VMDK and qcow2 keep their tables apart from the data: stage, then convert.
  const limit = maxImageFileBytes(ovfDisk.capacityBytes);
  try {
    await pipeline(
      Readable.from(
        boundedBytes(
          stream,
          limit,
          () =>
            new SourceError(
              'InvalidOva',
              `disk file "${name}" holds more than ${limit} bytes, more than an image of its ${ovfDisk.capacityBytes}-byte disk can`,
            ),
        ),
      ),
      createWriteStream(stagePath),
      ...(signal ? [{ signal }] : []),
    );
    target.onConverting();
    const { virtualSizeBytes } = await convertForeignImage(
      stagePath,
      kind === 'qcow2' ? 'qcow2' : 'vmdk',
      rawPath,
      `disk file "${name}"`,
      signal,
    );
    checkDiskSize(name, virtualSizeBytes, ovfDisk.capacityBytes);
    const st = await stat(rawPath);
    return { virtualSizeBytes, allocatedBytes: Math.min(st.blocks * 512, st.size) };
  } finally {
    await rm(stagePath, { force: true });
  }
}
