// The PATCH content types: JSON merge patch (RFC 7386), JSON patch (RFC 6902, via fast-json-patch)
// and a strategic merge patch for built-in kinds.
import fastJsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { ApiError, badRequest } from './errors.ts';

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const result: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw badRequest('json patch must be an array of operations');
  try {
    return fastJsonPatch.applyPatch(structuredClone(target), ops as Operation[], true, false).newDocument;
  } catch (err) {
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new ApiError(
      422,
      'Invalid',
      `the server rejected our request due to an error in our request: ${message}`,
    );
  }
}

/**
 * Merge keys of the built-in lists kubectl patches strategically (from the Kubernetes Go types'
 * `patchMergeKey` tags). Lists not named here are replaced atomically, as for merge patch.
 */
function mergeKeyFor(field: string, items: unknown[]): string | undefined {
  switch (field) {
    case 'containers':
    case 'initContainers':
    case 'ephemeralContainers':
    case 'env':
    case 'volumes':
    case 'imagePullSecrets':
      return 'name';
    case 'volumeMounts':
      return 'mountPath';
    case 'volumeDevices':
      return 'devicePath';
    case 'conditions':
      return 'type';
    case 'ownerReferences':
      return 'uid';
    case 'hostAliases':
      return 'ip';
    case 'ports':
      return items.some((i) => isObject(i) && 'containerPort' in i) ? 'containerPort' : 'port';
    default:
      return undefined;
  }
}

/** Lists of scalars merged as sets (patchStrategy:"merge" on a []string). */
const SET_LISTS = new Set(['finalizers']);

function mergeList(
  field: string,
  current: unknown,
  patch: unknown[],
  order: unknown[] | undefined,
): unknown[] {
  const base = Array.isArray(current) ? current : [];
  if (SET_LISTS.has(field)) {
    return [...new Set([...base, ...patch])];
  }
  const key = mergeKeyFor(field, [...base, ...patch]);
  if (!key) return patch.filter((p) => !(isObject(p) && '$patch' in p)).map((p) => structuredClone(p));
  if (patch.some((p) => isObject(p) && p['$patch'] === 'replace')) {
    return patch.filter((p) => !(isObject(p) && p['$patch'] === 'replace'));
  }
  const result = base.map((item) => structuredClone(item));
  for (const p of patch) {
    if (!isObject(p)) continue;
    const idx = result.findIndex((item) => isObject(item) && item[key] === p[key]);
    if (p['$patch'] === 'delete') {
      if (idx >= 0) result.splice(idx, 1);
      continue;
    }
    if (idx >= 0) result[idx] = strategicMergePatch(result[idx], p);
    else result.push(strategicMergePatch({}, p));
  }
  if (order) {
    const rank = (item: unknown): number => {
      const i = order.findIndex((o) => isObject(o) && isObject(item) && o[key] === item[key]);
      return i < 0 ? order.length : i;
    };
    result.sort((a, b) => rank(a) - rank(b));
  }
  return result;
}

export function strategicMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  if (patch['$patch'] === 'replace') {
    const { $patch: _ignored, ...rest } = patch;
    return structuredClone(rest);
  }
  if (patch['$patch'] === 'delete') return undefined;
  const result: Record<string, unknown> = isObject(target) ? { ...target } : {};
  const retainKeys = Array.isArray(patch['$retainKeys']) ? (patch['$retainKeys'] as string[]) : undefined;
  for (const [key, value] of Object.entries(patch)) {
    if (key === '$retainKeys' || key === '$patch' || key.startsWith('$setElementOrder/')) continue;
    if (key.startsWith('$deleteFromPrimitiveList/')) {
      const field = key.slice('$deleteFromPrimitiveList/'.length);
      const list = result[field];
      if (Array.isArray(list) && Array.isArray(value)) result[field] = list.filter((v) => !value.includes(v));
      continue;
    }
    if (value === null) {
      delete result[key];
    } else if (Array.isArray(value)) {
      const order = patch[`$setElementOrder/${key}`];
      result[key] = mergeList(key, result[key], value, Array.isArray(order) ? order : undefined);
    } else {
      const merged = strategicMergePatch(result[key], value);
      if (merged === undefined) delete result[key];
      else result[key] = merged;
    }
  }
  if (retainKeys) {
    for (const key of Object.keys(result)) if (!retainKeys.includes(key)) delete result[key];
  }
  return result;
}

/**
 * Server-side apply, approximated per field manager: the applied configuration is merged into the
 * live object, and fields this manager applied last time but no longer applies are removed (lists
 * are atomic). There is no managedFields tracking and so no conflict detection between managers.
 */
export function serverSideApply(current: unknown, previouslyApplied: unknown, applied: unknown): unknown {
  const withRemovals = (prev: unknown, next: unknown): unknown => {
    if (!isObject(prev) || !isObject(next)) return next;
    const out: Record<string, unknown> = { ...next };
    for (const key of Object.keys(prev)) {
      if (!(key in next)) out[key] = null;
      else out[key] = withRemovals(prev[key], next[key]);
    }
    return out;
  };
  return mergePatch(current, withRemovals(previouslyApplied, applied));
}
