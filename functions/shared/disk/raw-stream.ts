// Streams bytes [start, end] of a sparse raw file: data extents are read from the file, holes are
// sent from a shared zero buffer without touching the file.
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { DiskFileReader } from './direct-reader.ts';
import type { Extent } from './extents.ts';
import { zeros } from './zero.ts';

const READ_BYTES = 1024 * 1024;
const ZERO_PIECE = 64 * 1024;

export interface RawStreamOptions {
  start?: number;
  /** Last byte to send, inclusive like an HTTP range (default: the file's last byte). */
  end?: number;
  /** File size, if the caller already knows it. */
  sizeBytes?: number;
}

export function createSparseRawStream(
  rawPath: string,
  extents: Extent[],
  opts: RawStreamOptions = {},
): Readable {
  return Readable.from(rawBytes(rawPath, extents, opts), { objectMode: false });
}

async function* rawBytes(rawPath: string, extents: Extent[], opts: RawStreamOptions): AsyncGenerator<Buffer> {
  const size = opts.sizeBytes ?? (await stat(rawPath)).size;
  const start = opts.start ?? 0;
  const end = opts.end ?? size - 1;
  if (size === 0 && opts.start === undefined && opts.end === undefined) return;
  if (!(
    Number.isSafeInteger(start) &&
    Number.isSafeInteger(end) &&
    start >= 0 &&
    start <= end &&
    end < size
  )) {
    throw new RangeError(`range ${start}-${end} is outside the ${size}-byte file`);
  }
  const file = await DiskFileReader.open(rawPath);
  try {
    let pos = start;
    let i = 0;
    while (pos <= end) {
      while (i < extents.length && extents[i]!.offset + extents[i]!.length <= pos) i++;
      const ext = extents[i];
      if (ext && ext.offset <= pos) {
        const n = Math.min(READ_BYTES, ext.offset + ext.length - pos, end + 1 - pos);
        const buf = Buffer.allocUnsafe(n);
        const got = await file.read(buf, 0, n, pos);
        if (got < n) buf.fill(0, got); // the file shrank under us: keep the promised length
        yield buf;
        pos += n;
      } else {
        const holeEnd = ext ? ext.offset : size;
        const n = Math.min(ZERO_PIECE, holeEnd - pos, end + 1 - pos);
        yield zeros(n);
        pos += n;
      }
    }
  } finally {
    await file.close();
  }
}
