// Names and label values derived from user input (source VM names, import names). Kubernetes is
// strict about both; upstream only lower-cased and then rejected anything else.
// Every function here is deterministic: the same input always yields the same name, so
// functions that run twice for one event create (or find) the same object.
import { createHash } from 'node:crypto';

/** Longest RFC 1123 label (object names of most kinds, label values). */
export const MAX_LABEL_LENGTH = 63;
const HASH_LENGTH = 6;
const FALLBACK_VM_NAME = 'vm';
/** A VM name is looked up this many times with a new suffix before giving up. */
const MAX_COLLISION_ATTEMPTS = 100;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

/** First `length` hex digits of sha256(text): short, stable, collision-resistant enough. */
export function shortHash(text: string, length = HASH_LENGTH): string {
  return createHash('sha256').update(text, 'utf8').digest('hex').slice(0, length);
}

export function isDnsLabel(name: string): boolean {
  return name.length <= MAX_LABEL_LENGTH && DNS_LABEL.test(name);
}

export function isLabelValue(value: string): boolean {
  return value.length <= MAX_LABEL_LENGTH && LABEL_VALUE.test(value);
}

/**
 * Lower-case RFC 1123 characters only: accents are folded (`Café` → `cafe`), every other
 * character becomes `-`, runs of `-` collapse, and `-` is trimmed from both ends. May be empty.
 */
export function toDnsCharacters(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/** `head` cut so that `head-suffix` fits `max`, without a trailing `-`, joined with the suffix. */
function withSuffix(head: string, suffix: string, max: number): string {
  const room = max - suffix.length - 1;
  const cut = head.slice(0, Math.max(0, room)).replace(/-+$/, '');
  return cut === '' ? suffix : `${cut}-${suffix}`;
}

/** Every candidate name is taken: the user has to choose one (spec.targetName). */
export class NoFreeNameError extends Error {
  override name = 'NoFreeNameError';
}

/**
 * The KubeVirt VirtualMachine name for a source VM name (status.importedVirtualMachineName).
 * RFC 1123 label: `My_VM.1` → `my-vm-1`; nothing usable → `vm`. Names longer than 63 become
 * `<first 56 chars>-<6 hex of sha256(source name)>`. When `taken(name)` reports the name as used
 * by a VM that is not ours, `<trimmed>-<6 hex of sha256(source name + salt + attempt)>` is tried
 * for attempt 1, 2, … until a free one is found (throws after 100 attempts). The salt (the
 * import's UID) gives concurrent imports of one source different candidates.
 */
export function sanitizeVmName(
  sourceName: string,
  opts: { taken?: (name: string) => boolean; salt?: string } = {},
): string {
  const base = toDnsCharacters(sourceName) || FALLBACK_VM_NAME;
  const first =
    base.length <= MAX_LABEL_LENGTH ? base : withSuffix(base, shortHash(sourceName), MAX_LABEL_LENGTH);
  const taken = opts.taken;
  if (!taken || !taken(first)) return first;
  for (let attempt = 1; attempt <= MAX_COLLISION_ATTEMPTS; attempt++) {
    const candidate = withSuffix(
      base,
      shortHash(`${sourceName}\u0000${opts.salt ?? ''}\u0000${attempt}`),
      MAX_LABEL_LENGTH,
    );
    if (!taken(candidate)) return candidate;
  }
  throw new NoFreeNameError(
    `no free VirtualMachine name for "${sourceName}" after ${MAX_COLLISION_ATTEMPTS} attempts; set spec.targetName`,
  );
}

/**
 * A valid label value for any string. Valid values (≤ 63, alphanumeric ends, `-_.` inside) are
 * returned unchanged; anything else has invalid characters replaced by `-`, is cut and gets
 * `-<6 hex of sha256(value)>`, so two different inputs never share a value by accident.
 */
export function labelValue(value: string): string {
  if (isLabelValue(value)) return value;
  const cleaned = value.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  const hash = shortHash(value);
  const cut = cleaned.slice(0, MAX_LABEL_LENGTH - HASH_LENGTH - 1).replace(/[^A-Za-z0-9]+$/, '');
  return cut === '' ? hash : `${cut}-${hash}`;
}

/**
 * A generated object name (Job, PVC, Service, …) from parts joined with `-`, e.g.
 * `dnsName([importName, 'export'])` → `my-import-export`. The result is an RFC 1123 label of at
 * most `max` characters. When the plain join is not already valid (too long, dots, upper case),
 * the result carries `-<6 hex of sha256(parts)>` so distinct inputs stay distinct; a short last
 * part (the role suffix) is kept intact: `<cut prefix>-<hash>-export`.
 * `startWithLetter` makes it an RFC 1035 label as Service names require (`x-` is prefixed when
 * the name would start with a digit).
 */
export function dnsName(
  parts: string[],
  max = MAX_LABEL_LENGTH,
  opts: { startWithLetter?: boolean } = {},
): string {
  if (max < HASH_LENGTH + 2) throw new RangeError(`dnsName: max ${max} is too small`);
  const joined = parts.join('-');
  let name: string;
  if (joined.length <= max && DNS_LABEL.test(joined)) {
    name = joined;
  } else {
    const hash = shortHash(parts.join('\u0000'));
    const last = parts.length > 1 ? toDnsCharacters(parts[parts.length - 1] ?? '') : '';
    if (last !== '' && last.length <= Math.floor(max / 3)) {
      const head = toDnsCharacters(parts.slice(0, -1).join('-'));
      name = withSuffix(head, `${hash}-${last}`, max);
    } else {
      name = withSuffix(toDnsCharacters(joined), hash, max);
    }
  }
  if (opts.startWithLetter && !/^[a-z]/.test(name)) {
    return `x-${name.length + 2 <= max ? name : dnsName(parts, max - 2)}`;
  }
  return name;
}

/**
 * spec.displayName of the Harvester VirtualMachineImage for disk `diskIndex` of an import:
 * `vm-import-<import>-<5 hex of the import uid>-disk-<n>`, and `…-disk-<n>-a<attempt>` for a
 * resubmission. Harvester's webhook (pkg/image/common/validator.go commonCheckDisplayName) answers
 * 409 to an image whose display name another image of the namespace carries — a re-created
 * import's old images and a failed image still being deleted (Harvester's finalizer) included —
 * so every import and every attempt has its own. Always a valid label value (≤ 63): Harvester
 * copies the display name into the `harvesterhci.io/imageDisplayName` label.
 */
export function imageDisplayName(
  importName: string,
  diskIndex: number,
  opts: { importUid?: string; attempt?: number } = {},
): string {
  const parts = ['vm-import', importName];
  if (opts.importUid) parts.push(shortHash(opts.importUid, 5));
  parts.push(opts.attempt && opts.attempt > 1 ? `disk-${diskIndex}-a${opts.attempt}` : `disk-${diskIndex}`);
  return dnsName(parts);
}
