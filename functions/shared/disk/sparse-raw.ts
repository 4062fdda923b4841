// Writes a plain raw disk stream (e.g. a Glance image download) to a sparse file: all-zero 64 KiB
// blocks are seeked over, never written.
import { ByteReader } from './byte-reader.ts';
import type { ByteSource } from './byte-reader.ts';
import { DiskFormatError } from './errors.ts';
import { SparseFileWriter } from './sparse-file.ts';

/** Bytes gathered before a write (positions stay aligned to it, so zero blocks are whole). */
const STAGE_BYTES = 1024 * 1024;
const MAX_WRITES_IN_FLIGHT = 4;

export interface WriteSparseRawOptions {
  /** Expected size; the stream must hold exactly this many bytes. Default: whatever it holds. */
  sizeBytes?: number;
  /** Called after each write: bytes read from the input so far, bytes of data written so far. */
  onProgress?(bytesIn: number, bytesOutAllocated: number): void;
  signal?: AbortSignal;
}

export interface WriteSparseRawResult {
  sizeBytes: number;
  allocatedBytes: number;
}

/**
 * Copies the raw disk in `input` to `outPath` as a sparse file. On error, abort or a size
 * mismatch the partial file is removed and the input is closed.
 */
export async function writeSparseRaw(
  input: ByteSource,
  outPath: string,
  opts: WriteSparseRawOptions = {},
): Promise<WriteSparseRawResult> {
  const reader = new ByteReader(input, opts.signal, 'raw disk stream');
  const inFlight = new Set<Promise<void>>();
  let writeError: unknown;
  let writer: SparseFileWriter | undefined;
  try {
    writer = await SparseFileWriter.create(outPath);
    const out = writer;
    if (opts.sizeBytes !== undefined) await out.setSize(opts.sizeBytes);
    let position = 0;
    for (;;) {
      const n = await reader.fill(STAGE_BYTES);
      if (n === 0) break;
      // Copy: the reader's chunks may be views of larger buffers; the stage must own its bytes.
      const stage = Buffer.from(await reader.read(n));
      if (opts.sizeBytes !== undefined && position + n > opts.sizeBytes) {
        throw new DiskFormatError(
          'DiskSizeMismatch',
          `raw disk stream is longer than the expected ${opts.sizeBytes} bytes`,
        );
      }
      while (inFlight.size >= MAX_WRITES_IN_FLIGHT) await Promise.race(inFlight);
      if (writeError) throw writeError;
      const job = out
        .writeAt(stage, position)
        .then(() => opts.onProgress?.(reader.bytesIn, out.allocatedBytes))
        .catch((e: unknown) => {
          writeError ??= e;
        })
        .finally(() => inFlight.delete(job));
      inFlight.add(job);
      position += n;
    }
    await Promise.all(inFlight);
    if (writeError) throw writeError;
    if (opts.sizeBytes !== undefined && position !== opts.sizeBytes) {
      throw new DiskFormatError(
        'TruncatedDiskStream',
        `raw disk stream ended early: got ${position} of ${opts.sizeBytes} bytes`,
      );
    }
    await out.setSize(position);
    await out.finish();
    opts.onProgress?.(reader.bytesIn, out.allocatedBytes);
    return { sizeBytes: position, allocatedBytes: out.allocatedBytes };
  } catch (e) {
    await Promise.allSettled(inFlight);
    await writer?.discard();
    await reader.close();
    throw e;
  }
}
