// Byte-stream stages of an OVA disk file between the tar members and the disk decoder: gzip
// inflation (ovf:compression), a length bound, and a look at the first bytes.
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { SourceError } from '../source-error.ts';

/**
 * Inflates a gzip stream (any number of members, as gzip(1) allows), refusing more than
 * `maxBytes` of output: a few KiB of gzip can claim terabytes (a zip bomb), so the output is
 * counted as it is produced and the inflater torn down at the bound, before anything is written.
 */
export async function* gunzipBounded(
  source: AsyncIterable<Uint8Array>,
  maxBytes: number,
  file: string,
): AsyncGenerator<Buffer> {
  const input = Readable.from(source, { objectMode: false });
  const gunzip = createGunzip();
  input.on('error', (e) => gunzip.destroy(e));
  input.pipe(gunzip);
  let out = 0;
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      out += chunk.length;
      if (out > maxBytes) {
        throw new SourceError(
          'InvalidOva',
          `disk file "${file}" inflates to more than ${maxBytes} bytes, more than its disk can hold; the file is not what the OVF says`,
        );
      }
      yield chunk;
    }
  } catch (e) {
    if (e instanceof SourceError || !isZlibError(e)) throw e;
    throw new SourceError(
      'InvalidOva',
      `disk file "${file}" is not valid gzip data: ${(e as Error).message}`,
    );
  } finally {
    input.unpipe(gunzip);
    gunzip.destroy();
    input.destroy();
  }
}

function isZlibError(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && code.startsWith('Z_');
}

/** Passes `source` through, refusing more than `maxBytes` in total. */
export async function* boundedBytes(
  source: AsyncIterable<Uint8Array>,
  maxBytes: number,
  tooLong: () => SourceError,
): AsyncGenerator<Uint8Array> {
  let seen = 0;
  for await (const chunk of source) {
    seen += chunk.byteLength;
    if (seen > maxBytes) throw tooLong();
    yield chunk;
  }
}

/**
 * Reads up to `n` bytes from the start of `source` and returns them with an iterable of the whole
 * stream (those bytes first). Reading stops early only at the end of the stream.
 */
export async function peekHead(
  source: AsyncIterable<Uint8Array>,
  n: number,
): Promise<{ head: Buffer; stream: AsyncGenerator<Uint8Array> }> {
  const it = source[Symbol.asyncIterator]();
  const taken: Uint8Array[] = [];
  let got = 0;
  let done = false;
  while (got < n) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    taken.push(r.value);
    got += r.value.byteLength;
  }
  const head = Buffer.concat(taken).subarray(0, n);
  async function* stream(): AsyncGenerator<Uint8Array> {
    try {
      yield* taken;
      if (done) return;
      for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
    } finally {
      if (!done) await it.return?.();
    }
  }
  return { head, stream: stream() };
}
