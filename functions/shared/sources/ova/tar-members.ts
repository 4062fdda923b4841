// Helpers for reading a tar archive as it streams in, with tar-stream's extract().
import { extract as tarExtract, type Extract, type ExtractEvents } from 'tar-stream';
import { SourceError } from '../source-error.ts';

/** A tar member being read (tar-stream does not export a name for this type). */
export type TarEntry = ExtractEvents['entry'][1];

export function createTarExtract(): Extract {
  return tarExtract({});
}

/** streamx types its chunks as unknown; tar members always yield Buffers. */
export function entryBytes(entry: TarEntry): AsyncIterable<Uint8Array> {
  return entry as unknown as AsyncIterable<Uint8Array>;
}

/**
 * Writes `source` into the tar parser with backpressure; ends it when the source ends. When the
 * source fails (reset, closed early, timed out) the parser is destroyed with that error, so a
 * reader waiting for the next member or bytes settles instead of waiting for ever.
 */
export async function feedTar(source: AsyncIterable<Uint8Array>, sink: Extract): Promise<void> {
  try {
    await pump(source, sink);
  } catch (e) {
    sink.destroy(e instanceof Error ? e : new Error(String(e)));
    throw e;
  }
}

async function pump(source: AsyncIterable<Uint8Array>, sink: Extract): Promise<void> {
  for await (const chunk of source) {
    if (sink.destroyed) return;
    if (!sink.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          sink.off('drain', done);
          sink.off('close', done);
          resolve();
        };
        sink.on('drain', done);
        sink.on('close', done);
      });
    }
  }
  sink.end(undefined);
}

/** Reads and discards the rest of a member. */
export async function drainEntry(entry: TarEntry): Promise<void> {
  for await (const chunk of entryBytes(entry)) void chunk;
}

/** Reads a small member (descriptor, manifest) into memory, refusing anything over `limit`. */
export async function readSmall(
  source: AsyncIterable<Uint8Array>,
  limit: number,
  name: string,
  reason = 'InvalidOva',
): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of source) {
    size += chunk.byteLength;
    if (size > limit)
      throw new SourceError(reason, `"${name}" is larger than the ${limit} bytes accepted for it`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
