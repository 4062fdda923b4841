// The archive's manifest (.mf) once read: which digests to compute, and the checks of the
// descriptor and of each disk file against it.
import { SourceError } from '../source-error.ts';
import type { StoredPart } from './disk-file-members.ts';
import { parseManifest, type DigestAlgorithm, type ManifestEntry } from './manifest.ts';
import { checkDigest, type MemberDigest } from './member-digest.ts';

/** A disk file as read from the archive, for its manifest check. */
export interface StoredDiskFile {
  name: string;
  /** Its tar members in order: one, or the chunks `<name>.000000000`, … */
  parts: StoredPart[];
  /** Digest of all chunks joined. */
  whole?: MemberDigest;
}

export class ArchiveManifest {
  private readonly entries: Map<string, ManifestEntry>;

  constructor(
    text: string,
    /** The manifest's member name, for messages. */
    readonly name: string,
  ) {
    this.entries = parseManifest(text, name);
  }

  /** The algorithms the manifest uses. */
  algorithms(): readonly DigestAlgorithm[] {
    return [...new Set([...this.entries.values()].map((e) => e.algorithm))];
  }

  /** The entry of `file`; a file the manifest does not list cannot be verified and is refused. */
  entryFor(file: string): ManifestEntry {
    const entry = this.entries.get(file);
    if (entry === undefined) {
      throw new SourceError(
        'ManifestIncomplete',
        `the manifest "${this.name}" has no checksum for "${file}", so the file cannot be verified`,
      );
    }
    return entry;
  }

  /** A manifest that leaves out the OVF protects nothing: the OVF names the disks and sizes. */
  checkDescriptor(descriptorName: string, digest: MemberDigest | undefined): void {
    const entry = this.entries.get(descriptorName);
    if (!entry)
      throw new SourceError(
        'ManifestIncomplete',
        `the manifest "${this.name}" has no checksum for the descriptor "${descriptorName}", so it cannot be verified`,
      );
    if (digest) checkDigest(descriptorName, digest, entry);
  }

  /**
   * Checks a disk file: each stored member by its own entry, or a chunked file whose chunks the
   * manifest does not list by the entry of the file.
   */
  checkDiskFile(file: StoredDiskFile): void {
    const fileEntry = this.entries.get(file.name);
    if (file.whole && fileEntry && !file.parts.every((p) => this.entries.has(p.name))) {
      checkDigest(file.name, file.whole, fileEntry);
      return;
    }
    for (const part of file.parts) checkDigest(part.name, part.digest, this.entryFor(part.name));
  }
}
