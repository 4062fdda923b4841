// Decodes a streamOptimized VMDK (VMware Virtual Disk Format 1.1, §"Stream-Optimized Compressed
// Sparse Extents") read once, in order, into a sparse raw file. Grain markers carry their LBA, so
// neither the grain directory nor the grain tables are needed to place data; they are only used to
// check that no grain is missing when the stream has no end-of-stream marker (qemu's output).
import { inflateSync } from 'node:zlib';
import { ByteReader } from './byte-reader.ts';
import type { ByteSource } from './byte-reader.ts';
import { DiskFormatError } from './errors.ts';
import { SparseFileWriter } from './sparse-file.ts';
import { StagedWriter } from './staged-writer.ts';
import { MAX_VMDK_GRAIN_DIRECTORY_BYTES, VMDK_FOOTER_SECTORS } from '../limits.ts';
import {
  MARKER_EOS,
  MARKER_FOOTER,
  MARKER_GD,
  MARKER_GT,
  SECTOR,
  countAllocatedGrainEntries,
  grainDirectoryEntries,
  grainDirectorySectors,
  grainTableSectors,
  parseMarker,
  parseSparseExtentHeader,
} from './vmdk-format.ts';
import type { SparseExtentHeader } from './vmdk-format.ts';

export interface DecodeOptions {
  /** Called after each ~1 MiB written: bytes read from the input so far, bytes of data written so far. */
  onProgress?(bytesIn: number, bytesOutAllocated: number): void;
  signal?: AbortSignal;
  /**
   * Called with the virtual size once the header is read, before anything is written; may throw
   * to refuse the disk (e.g. a size that disagrees with what the OVF says).
   */
  onHeader?(virtualSizeBytes: number): void;
}

export interface DecodeResult {
  virtualSizeBytes: number;
  /** Bytes of non-zero data written to the raw file. */
  allocatedBytes: number;
  /** The embedded descriptor text (createType, ddb.adapterType, ...), '' if absent. */
  descriptor: string;
}

const corrupt = (why: string) => new DiskFormatError('CorruptVmdk', `corrupt streamOptimized VMDK: ${why}`);

/**
 * Reads `input` (a streamOptimized VMDK) once and writes the disk it holds to `outPath` as a
 * sparse raw file of the disk's virtual size; all-zero 64 KiB blocks are never written. On any
 * error or abort the partial output file is removed and the input is closed.
 */
export async function decodeStreamOptimizedVmdk(
  input: ByteSource,
  outPath: string,
  opts: DecodeOptions = {},
): Promise<DecodeResult> {
  const reader = new ByteReader(input, opts.signal, 'streamOptimized VMDK');
  let writer: SparseFileWriter | undefined;
  let staged: StagedWriter | undefined;
  try {
    const got = await reader.fill(SECTOR);
    const first = await reader.read(got);
    if (got < SECTOR) {
      parseSparseExtentHeader(Buffer.concat([first, Buffer.alloc(SECTOR - got)])); // names the format if it can
      throw new DiskFormatError(
        'NotStreamOptimizedVmdk',
        `not a streamOptimized VMDK: input is only ${got} bytes long`,
      );
    }
    const header = parseSparseExtentHeader(first);
    const virtualSizeBytes = header.capacitySectors * SECTOR;
    const grainBytes = header.grainSectors * SECTOR;
    opts.onHeader?.(virtualSizeBytes);
    const { descriptor, expectedGrains } = await readMetadataArea(reader, header);
    const gtSectors = grainTableSectors(header);
    const gdSectors = grainDirectorySectors(header);

    writer = await SparseFileWriter.create(outPath);
    try {
      await writer.setSize(virtualSizeBytes);
    } catch (e) {
      // Found by fuzzing: a size under MAX_DISK_BYTES can still exceed the scratch filesystem's
      // largest file (ext4: 16 TiB).
      if ((e as NodeJS.ErrnoException).code !== 'EFBIG') throw e;
      throw new DiskFormatError(
        'DiskTooLarge',
        `the disk's virtual size of ${virtualSizeBytes} bytes is more than the scratch volume's filesystem can hold in one file`,
      );
    }
    const out = writer;
    // Grains are inflated synchronously (microseconds each; a thread-pool hand-off per grain
    // costs more) and adjacent grains coalesce into ~1 MiB writes, several in flight.
    staged = new StagedWriter(out, {
      onWritten: () => opts.onProgress?.(reader.bytesIn, out.allocatedBytes),
    });
    const stages = staged;

    let grainsSeen = 0;
    let grainsInTables = 0;
    let sawGrainTables = false;
    let sawEos = false;
    // Grains must come in increasing LBA order, each at a grain boundary: one position can then
    // never be written twice (a repeated or overlapping grain has no consistent reading).
    let nextFreeLba = 0;
    for (;;) {
      const avail = await reader.fill(16);
      if (avail === 0) break;
      if (avail < 12) throw truncatedAt(reader, 'inside a marker');
      const markerOffset = reader.position;
      const marker = parseMarker(await reader.read(12));
      if (marker.kind === 'grain') {
        const { lba, compressedSize } = marker;
        if (lba >= header.capacitySectors) {
          throw corrupt(
            `grain at stream offset ${markerOffset} has LBA ${lba} beyond the capacity of ${header.capacitySectors} sectors`,
          );
        }
        if (lba % header.grainSectors !== 0) {
          throw corrupt(
            `grain at LBA ${lba} (stream offset ${markerOffset}) is not at a grain boundary (grains are ${header.grainSectors} sectors): it would overlap another grain`,
          );
        }
        if (lba < nextFreeLba) {
          throw corrupt(
            `grain at LBA ${lba} (stream offset ${markerOffset}) repeats or precedes an earlier grain; a stream must hold each grain once, in increasing LBA order`,
          );
        }
        nextFreeLba = lba + header.grainSectors;
        if (compressedSize > 2 * grainBytes + 4096) {
          throw corrupt(
            `grain at stream offset ${markerOffset} claims ${compressedSize} compressed bytes for a ${grainBytes}-byte grain`,
          );
        }
        const compressed = await reader.read(compressedSize);
        await reader.skip(padToSector(12 + compressedSize));
        grainsSeen++;
        const limit = Math.min(grainBytes, virtualSizeBytes - lba * SECTOR);
        const data = inflateGrain(compressed, grainBytes, lba, markerOffset);
        // A final partial grain may be stored padded to a whole grain; never write past the end.
        await stages.put(data.length > limit ? data.subarray(0, limit) : data, lba * SECTOR);
        continue;
      }
      // Metadata marker: val = sectors of metadata that follow, type at byte 12, padded to a sector.
      const type = (await reader.read(4)).readUInt32LE(0);
      await reader.skip(SECTOR - 16);
      if (type === MARKER_EOS) {
        sawEos = true;
        break;
      }
      const claims = (allowed: number, what: string) => {
        if (marker.sectors > allowed) {
          throw corrupt(
            `${what} marker at stream offset ${markerOffset} claims ${marker.sectors} sectors; this disk's header allows ${allowed}`,
          );
        }
      };
      if (type === MARKER_GT) {
        claims(gtSectors, 'grain table');
        const table = await reader.read(marker.sectors * SECTOR);
        grainsInTables += countAllocatedGrainEntries(table.subarray(0, header.numGTEsPerGT * 4));
        sawGrainTables = true;
      } else if (type === MARKER_FOOTER) {
        claims(VMDK_FOOTER_SECTORS, 'footer');
        const footer = await reader.read(marker.sectors * SECTOR);
        if (footer.length < SECTOR || footer.readUInt32LE(0) !== 0x564d444b)
          throw corrupt('footer has a bad magic number');
      } else if (type === MARKER_GD) {
        claims(gdSectors, 'grain directory');
        await reader.skip(marker.sectors * SECTOR);
      } else {
        throw corrupt(`unknown metadata marker type ${type} at stream offset ${markerOffset}`);
      }
    }
    await stages.finish();

    const expected = sawGrainTables ? grainsInTables : expectedGrains;
    if (!sawEos && expected === undefined) {
      throw truncatedAt(reader, 'without an end-of-stream marker');
    }
    if (expected !== undefined && grainsSeen < expected) {
      throw new DiskFormatError(
        'TruncatedDiskStream',
        `streamOptimized VMDK ended early: the grain tables list ${expected} grains but the stream held ${grainsSeen} (stream ended after ${reader.bytesIn} bytes)`,
      );
    }
    if (sawEos) await reader.drain();
    await out.finish();
    opts.onProgress?.(reader.bytesIn, out.allocatedBytes);
    return { virtualSizeBytes, allocatedBytes: out.allocatedBytes, descriptor };
  } catch (e) {
    await staged?.settle();
    await writer?.discard();
    await reader.close();
    throw e;
  }
}

function inflateGrain(compressed: Buffer, grainBytes: number, lba: number, markerOffset: number): Buffer {
  try {
    // One output chunk of a whole grain: no concatenation of 16 KiB pieces.
    return inflateSync(compressed, { maxOutputLength: grainBytes, chunkSize: Math.max(grainBytes, 64) });
  } catch (e) {
    throw corrupt(
      `grain at LBA ${lba} (stream offset ${markerOffset}) does not inflate: ${(e as Error).message}`,
    );
  }
}

/**
 * Consumes the sectors between the header and the first grain (overHead): the embedded
 * descriptor and, when the grain directory is stored there (qemu), the grain tables, whose
 * allocated entries say how many grains the stream must contain.
 */
async function readMetadataArea(
  reader: ByteReader,
  h: SparseExtentHeader,
): Promise<{ descriptor: string; expectedGrains: number | undefined }> {
  const skipToSector = async (sector: number) => {
    const target = sector * SECTOR;
    if (target < reader.position) throw corrupt(`metadata at sector ${sector} overlaps earlier data`);
    await reader.skip(target - reader.position);
  };
  let descriptor = '';
  let expectedGrains: number | undefined;
  const gdSectors = grainDirectorySectors(h);
  const gtSectors = grainTableSectors(h);
  if (gdSectors * SECTOR > MAX_VMDK_GRAIN_DIRECTORY_BYTES) {
    throw corrupt(
      `the grain directory would take ${gdSectors * SECTOR} bytes, more than the ${MAX_VMDK_GRAIN_DIRECTORY_BYTES} accepted`,
    );
  }
  const gdInHeader =
    h.gdOffset !== undefined &&
    h.gdOffset > 0 &&
    h.gdOffset + gdSectors <= h.overheadSectors &&
    h.numGTEsPerGT > 0;
  const descFirst = h.descriptorSectors > 0 && (!gdInHeader || h.descriptorOffset < h.gdOffset!);
  const readDescriptor = async () => {
    await skipToSector(h.descriptorOffset);
    const raw = await reader.read(h.descriptorSectors * SECTOR);
    const end = raw.indexOf(0);
    descriptor = raw.subarray(0, end < 0 ? raw.length : end).toString('utf8');
  };
  if (descFirst) await readDescriptor();
  if (gdInHeader && reader.position <= h.gdOffset! * SECTOR) {
    await skipToSector(h.gdOffset!);
    const gd = await reader.read(gdSectors * SECTOR);
    const tables: number[] = [];
    for (let i = 0; i < grainDirectoryEntries(h); i++) {
      const t = gd.readUInt32LE(i * 4);
      if (t > 0) tables.push(t);
    }
    tables.sort((a, b) => a - b);
    const usable = tables.every((t) => t * SECTOR >= reader.position && t + gtSectors <= h.overheadSectors);
    if (usable) {
      let count = 0;
      for (const t of tables) {
        if (t * SECTOR < reader.position) continue; // a table listed twice
        await skipToSector(t);
        count += countAllocatedGrainEntries(await reader.read(gtSectors * SECTOR));
      }
      expectedGrains = count;
    }
  }
  if (!descFirst && h.descriptorSectors > 0 && reader.position <= h.descriptorOffset * SECTOR) {
    await readDescriptor();
  }
  await skipToSector(h.overheadSectors);
  return { descriptor, expectedGrains };
}

function padToSector(n: number): number {
  return (SECTOR - (n % SECTOR)) % SECTOR;
}

function truncatedAt(reader: ByteReader, where: string): DiskFormatError {
  return new DiskFormatError(
    'TruncatedDiskStream',
    `streamOptimized VMDK ended early ${where} (stream ended after ${reader.bytesIn} bytes)`,
  );
}
