// Objects served through more than one API with different shapes. Events are stored in their
// core/v1 form and converted for events.k8s.io/v1, as the real API server does, so events
// written through either API show up in both (and in `kubectl describe`).
import type { KubeObject, ResourceInfo } from './types.ts';

/** events.k8s.io/v1 field → core/v1 field */
const EVENT_FIELDS: [string, string][] = [
  ['regarding', 'involvedObject'],
  ['note', 'message'],
  ['reportingController', 'reportingComponent'],
  ['deprecatedSource', 'source'],
  ['deprecatedFirstTimestamp', 'firstTimestamp'],
  ['deprecatedLastTimestamp', 'lastTimestamp'],
  ['deprecatedCount', 'count'],
];

function isEventsApi(info: ResourceInfo): boolean {
  return info.group === 'events.k8s.io' && info.resource === 'events';
}

function rename(obj: KubeObject, pairs: [string, string][]): KubeObject {
  const out: KubeObject = { ...obj };
  for (const [from, to] of pairs) {
    if (from in out) {
      out[to] = out[from];
      delete out[from];
    }
  }
  return out;
}

export function toStorage(info: ResourceInfo, obj: KubeObject): KubeObject {
  return isEventsApi(info) ? rename(obj, EVENT_FIELDS) : obj;
}

export function fromStorage(info: ResourceInfo, obj: KubeObject): KubeObject {
  return isEventsApi(info)
    ? rename(
        obj,
        EVENT_FIELDS.map(([a, b]) => [b, a]),
      )
    : obj;
}

/** Field selectors name fields of the API used; map them to the stored form. */
export function storageFieldPath(info: ResourceInfo, path: string): string {
  if (!isEventsApi(info)) return path;
  for (const [from, to] of EVENT_FIELDS) {
    if (path === from || path.startsWith(`${from}.`)) return to + path.slice(from.length);
  }
  return path;
}
