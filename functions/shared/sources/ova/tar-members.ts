// Helpers for reading a tar archive as it streams in, with tar-stream's extract().
import type { ConditionReason } from '../../condition-reasons.ts';
import { extract as tarExtract, type Extract, type ExtractEvents } from 'tar-stream';
import { MAX_OVA_MEMBERS } from '../../limits.ts';
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
  reason: ConditionReason = 'InvalidOva',
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

/**
 * The members of an archive one at a time, with one member of look-ahead put back (a chunked
 * file's reader takes the members that continue it and returns the first that does not).
 * Counts members against MAX_OVA_MEMBERS.
 */
export class TarMembers {
  private held?: TarEntry;
  private seen = 0;
  private readonly it: AsyncIterator<TarEntry>;

  constructor(extract: Extract) {
    this.it = extract[Symbol.asyncIterator]();
  }

  async next(): Promise<TarEntry | undefined> {
    const held = this.held;
    if (held) {
      this.held = undefined;
      return held;
    }
    const r = await this.it.next();
    if (r.done) return undefined;
    if (++this.seen > MAX_OVA_MEMBERS) {
      throw new SourceError('InvalidOva', `the archive holds more than ${MAX_OVA_MEMBERS} files`);
    }
    return r.value;
  }

  putBack(entry: TarEntry): void {
    if (this.held) throw new Error('TarMembers: only one member can be put back');
    this.held = entry;
  }
}

/** Name of chunk `i` of a file split with ovf:chunkSize (DSP0243: nine-digit, zero-padded suffix). */
export function chunkName(file: string, i: number): string {
  return `${file}.${String(i).padStart(9, '0')}`;
}
