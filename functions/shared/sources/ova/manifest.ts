// OVF manifest (.mf): one line per file, `SHA256(disk1.vmdk)= <hex>` (DSP0243 §5.1). Generators
// differ in spacing, algorithm spelling and hex case; all of those are accepted.
import { SourceError } from '../source-error.ts';

export type DigestAlgorithm = 'sha1' | 'sha256' | 'sha512';
export const DIGEST_ALGORITHMS: readonly DigestAlgorithm[] = ['sha1', 'sha256', 'sha512'];

export interface ManifestEntry {
  algorithm: DigestAlgorithm;
  /** Lower-case hex digest. */
  hex: string;
}

const ALGORITHM_ALIASES: Record<string, DigestAlgorithm> = {
  sha1: 'sha1',
  'sha-1': 'sha1',
  sha256: 'sha256',
  'sha-256': 'sha256',
  'sha2-256': 'sha256',
  sha512: 'sha512',
  'sha-512': 'sha512',
  'sha2-512': 'sha512',
};

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha1: 40, sha256: 64, sha512: 128 };

/** Manifest entries keyed by file name as written in the manifest. */
export function parseManifest(text: string, manifestName = 'manifest'): Map<string, ManifestEntry> {
  const entries = new Map<string, ManifestEntry>();
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const m = /^([A-Za-z0-9-]+)\s*\((.+)\)\s*=\s*([0-9A-Fa-f]+)$/.exec(line);
    if (!m) {
      throw new SourceError('InvalidManifest', `${manifestName} line ${i + 1} is not "ALGORITHM(file)= hex"`);
    }
    const [, algoText, file, hex] = m as unknown as [string, string, string, string];
    const algorithm = ALGORITHM_ALIASES[algoText.toLowerCase()];
    if (algorithm === undefined) {
      throw new SourceError(
        'InvalidManifest',
        `${manifestName} uses digest algorithm "${algoText}" for "${file}"; supported are SHA1, SHA256 and SHA512`,
      );
    }
    if (hex.length !== HEX_LENGTH[algorithm]) {
      throw new SourceError(
        'InvalidManifest',
        `${manifestName} has a ${algoText} digest for "${file}" of ${hex.length} hex digits, expected ${HEX_LENGTH[algorithm]}`,
      );
    }
    entries.set(file.trim(), { algorithm, hex: hex.toLowerCase() });
  });
  return entries;
}
