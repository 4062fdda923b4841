// Writes a plain raw disk stream (e.g. a Glance image download) to a sparse file: all-zero 64 KiB
// blocks are seeked over, never written.
import { ByteReader } from './byte-reader.ts';
import type { ByteSource } from './byte-reader.ts';
import { DiskFormatError } from './errors.ts';
import { SparseFileWriter } from './sparse-file.ts';
import { StagedWriter } from './staged-writer.ts';

export interface WriteSparseRawOptions {
  /** Expected size; the stream must hold exactly this many bytes. Default: whatever it holds. */
  sizeBytes?: number;
  /** Without sizeBytes: the most bytes the stream may hold (DiskSizeMismatch past it). */
  maxBytes?: number;
  /** Called after each write: bytes read from the input so far, bytes of data written so far. */
  onProgress?(bytesIn: number, bytesOutAllocated: number): void;
  signal?: AbortSignal;
  /**
   * Fed every byte of the stream, in order, in ~1 MiB pieces (e.g. an OffThreadHash verifying a
   * download's checksum: far fewer calls than one per received chunk, and no extra stream stage).
   * A promise from update() holds that piece's buffer until it settles.
   */
  hash?: { update(data: Uint8Array): Promise<void> | void };
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
  let writer: SparseFileWriter | undefined;
  let staged: StagedWriter | undefined;
  try {
    writer = await SparseFileWriter.create(outPath);
    const out = writer;
    if (opts.sizeBytes !== undefined) await out.setSize(opts.sizeBytes);
    // Received chunks are copied once, into ~1 MiB stages written at their absolute positions.
    staged = new StagedWriter(out, {
      onWritten: () => opts.onProgress?.(reader.bytesIn, out.allocatedBytes),
      ...(opts.hash ? { beforeWrite: (data: Buffer) => opts.hash!.update(data) } : {}),
    });
    let position = 0;
    for (;;) {
      const room = await staged.room(position);
      const chunk = await reader.readSome(room.length);
      if (!chunk) break;
      const limit = opts.sizeBytes ?? opts.maxBytes;
      if (limit !== undefined && position + chunk.length > limit) {
        throw new DiskFormatError(
          'DiskSizeMismatch',
          `raw disk stream is longer than the ${opts.sizeBytes !== undefined ? 'expected' : 'largest accepted'} ${limit} bytes`,
        );
      }
      room.set(chunk);
      staged.commit(chunk.length);
      position += chunk.length;
    }
    await staged.finish();
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
    await staged?.settle();
    await writer?.discard();
    await reader.close();
    throw e;
  }
}
