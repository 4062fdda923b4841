// DMTF programmatic units (DSP0004 Annex C) as used by OVF for AllocationUnits and
// capacityAllocationUnits: "byte", "byte * 2^20", "byte * 1024", "byte * 2^10 * 1024", plus the
// informal names generators write ("MegaBytes", "MB", "KB", ...).

const NAMED_UNITS: Record<string, number> = {
  b: 1,
  byte: 1,
  bytes: 1,
  kb: 2 ** 10,
  kib: 2 ** 10,
  kilobyte: 2 ** 10,
  kilobytes: 2 ** 10,
  mb: 2 ** 20,
  mib: 2 ** 20,
  megabyte: 2 ** 20,
  megabytes: 2 ** 20,
  gb: 2 ** 30,
  gib: 2 ** 30,
  gigabyte: 2 ** 30,
  gigabytes: 2 ** 30,
  tb: 2 ** 40,
  tib: 2 ** 40,
  terabyte: 2 ** 40,
  terabytes: 2 ** 40,
};

/**
 * Bytes per unit for an allocation-units string, or undefined when it is not a byte unit we
 * understand (the caller decides: error or default).
 */
export function bytesPerUnit(units: string): number | undefined {
  const s = units.trim().toLowerCase();
  if (s === '') return undefined;
  const named = NAMED_UNITS[s.replace(/\s+/g, '')];
  if (named !== undefined) return named;
  const terms = s.split('*').map((t) => t.trim());
  if (terms[0] !== 'byte') return undefined;
  let factor = 1;
  for (const term of terms.slice(1)) {
    const power = /^(\d+)\s*\^\s*(-?\d+)$/.exec(term);
    if (power) {
      factor *= Number(power[1]) ** Number(power[2]);
      continue;
    }
    if (/^\d+$/.test(term)) {
      factor *= Number(term);
      continue;
    }
    return undefined;
  }
  // Whole bytes only: "byte * 2^-3" (an eighth of a byte) is no unit a disk or memory size uses.
  return Number.isSafeInteger(factor) && factor > 0 ? factor : undefined;
}

/**
 * quantity × units, in bytes; undefined when the quantity is not a whole decimal number ("0x10",
 * "1e3", "1.5" are not) or the unit is not understood. The result may exceed
 * Number.MAX_SAFE_INTEGER (even be Infinity); callers compare it with their cap.
 */
export function toBytes(
  quantity: string,
  units: string | undefined,
  defaultUnitBytes: number,
): number | undefined {
  const text = quantity.trim();
  if (!/^\d+$/.test(text)) return undefined;
  const perUnit = units === undefined || units.trim() === '' ? defaultUnitBytes : bytesPerUnit(units);
  return perUnit === undefined ? undefined : Number(text) * perUnit;
}
