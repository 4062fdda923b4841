// Hashing of tar members while they stream past, and the comparison with manifest entries.
import { createHash, type Hash } from 'node:crypto';
import { SourceError } from '../source-error.ts';
import { DIGEST_ALGORITHMS, type DigestAlgorithm, type ManifestEntry } from './manifest.ts';

export class MemberDigest {
  private readonly hashes = new Map<DigestAlgorithm, Hash>();
  private readonly results = new Map<DigestAlgorithm, string>();
  bytes = 0;

  /** `algorithms` = the manifest's algorithm when known, else all we support (manifest may come later). */
  constructor(algorithms: readonly DigestAlgorithm[] = DIGEST_ALGORITHMS) {
    for (const a of algorithms) this.hashes.set(a, createHash(a));
  }

  update(chunk: Uint8Array): void {
    this.bytes += chunk.byteLength;
    for (const h of this.hashes.values()) h.update(chunk);
  }

  finish(): void {
    for (const [a, h] of this.hashes) this.results.set(a, h.digest('hex'));
    this.hashes.clear();
  }

  hex(algorithm: DigestAlgorithm): string | undefined {
    return this.results.get(algorithm);
  }
}

/** Throws ChecksumMismatch naming the file when the digest differs from the manifest. */
export function checkDigest(file: string, digest: MemberDigest, expected: ManifestEntry): void {
  const actual = digest.hex(expected.algorithm);
  if (actual === undefined) {
    // Only possible if the member was hashed for a different algorithm than the manifest uses.
    throw new SourceError(
      'ChecksumMismatch',
      `cannot check "${file}": its ${expected.algorithm.toUpperCase()} digest was not computed`,
    );
  }
  if (actual !== expected.hex) {
    throw new SourceError(
      'ChecksumMismatch',
      `checksum mismatch for "${file}": the manifest says ${expected.algorithm.toUpperCase()} ${expected.hex}, the downloaded file has ${actual}; the file was damaged or changed after the manifest was written`,
    );
  }
}

/** Passes the chunks of `source` through, hashing them and reporting the running byte count. */
export async function* digesting(
  source: AsyncIterable<Uint8Array>,
  digest: MemberDigest,
  onBytes?: (bytes: number) => void,
): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    digest.update(chunk);
    onBytes?.(digest.bytes);
    yield chunk;
  }
}
