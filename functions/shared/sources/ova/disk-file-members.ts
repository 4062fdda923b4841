// The stored bytes of one disk file of the archive: its tar member, or (ovf:chunkSize) its chunk
// members `<name>.000000000`, `.000000001`, … in order, each hashed as stored and checked for
// length as it streams past.
import { posix } from 'node:path';
import { SourceError } from '../source-error.ts';
import type { DigestAlgorithm } from './manifest.ts';
import { MemberDigest } from './member-digest.ts';
import { chunkName, entryBytes, type TarEntry, type TarMembers } from './tar-members.ts';

/** One tar member of a disk file as stored: the whole file, or one of its chunks. */
export interface StoredPart {
  name: string;
  digest: MemberDigest;
}

export interface StoredBytesOptions {
  /** The file's name (its href's last segment). */
  name: string;
  /** ovf:chunkSize of the file; undefined = one member. */
  chunkSizeBytes: number | undefined;
  /** The digests to compute for every member. */
  algorithms: readonly DigestAlgorithm[];
  /** Receives each member's digest once it has been read. */
  parts: StoredPart[];
  /** Receives the chunks joined (for a manifest that lists the file instead of its chunks). */
  whole: MemberDigest | undefined;
  onBytes: (bytes: number) => void;
}

/**
 * The stored bytes of a disk file starting at member `first`; its further chunks are taken from
 * `members` as they come, and the first member that is not the next chunk is put back.
 */
export async function* storedDiskBytes(
  first: TarEntry,
  members: TarMembers,
  opts: StoredBytesOptions,
): AsyncGenerator<Uint8Array> {
  const { name, chunkSizeBytes: chunkSize, parts, whole } = opts;
  let entry = first;
  let bytes = 0;
  for (let i = 0; ; i++) {
    const partName = chunkSize === undefined ? name : chunkName(name, i);
    const digest = new MemberDigest(opts.algorithms);
    for await (const chunk of entryBytes(entry)) {
      digest.update(chunk);
      whole?.update(chunk);
      bytes += chunk.byteLength;
      opts.onBytes(bytes);
      yield chunk;
    }
    digest.finish();
    const expected = entry.header.size ?? 0;
    if (digest.bytes !== expected) {
      throw new SourceError(
        'InvalidOva',
        `disk file "${partName}" ended after ${digest.bytes} of ${expected} bytes`,
      );
    }
    parts.push({ name: partName, digest });
    if (chunkSize === undefined) return;
    const next = await members.next();
    const continues =
      next !== undefined &&
      (next.header.type === 'file' || next.header.type === 'contiguous-file') &&
      posix.basename(next.header.name) === chunkName(name, i + 1);
    if (next !== undefined && !continues) members.putBack(next);
    if (continues ? digest.bytes !== chunkSize : digest.bytes === 0 || digest.bytes > chunkSize) {
      throw new SourceError(
        'InvalidOva',
        `chunk "${partName}" holds ${digest.bytes} bytes; ovf:chunkSize says every chunk but the last holds ${chunkSize} bytes (and the last at most that)`,
      );
    }
    if (!continues) {
      whole?.finish();
      return;
    }
    entry = next;
  }
}
