// Reads what the space check (capacity.ts) decides on: the StorageClasses, the namespace's
// ResourceQuotas, Longhorn's Node objects and settings, CSIStorageCapacity objects. A kind this
// cluster does not serve (no Longhorn, an API server without CSIStorageCapacity) is "not
// published", never an error.
import { isNotFound, type Kube, type Obj } from '../shared/kube/client.ts';
import {
  type CapacityFacts,
  type ClassFacts,
  type CsiCapacityFacts,
  type LonghornNodeFacts,
  type QuotaFacts,
} from './capacity.ts';

export const LONGHORN_NAMESPACE = 'longhorn-system';
const DEFAULT_CLASS_ANNOTATION = 'storageclass.kubernetes.io/is-default-class';

const notServed = (e: unknown) =>
  isNotFound(e) || (e instanceof Error && /Unrecognized API version and kind/.test(e.message));

async function listIfServed<T extends Obj>(
  kube: Kube,
  apiVersion: string,
  kind: string,
  namespace?: string,
): Promise<T[] | undefined> {
  try {
    return await kube.list<T>(apiVersion, kind, namespace);
  } catch (e) {
    if (notServed(e)) return undefined;
    throw e;
  }
}

type StorageClassObj = Obj & { provisioner?: string; parameters?: Record<string, string> };

/** The named class, or the cluster's default class when `name` is empty; undefined if neither exists. */
export async function storageClassFacts(
  kube: Kube,
  name: string | undefined,
): Promise<ClassFacts | undefined> {
  const classes = await kube.list<StorageClassObj>('storage.k8s.io/v1', 'StorageClass');
  const found = name
    ? classes.find((c) => c.metadata?.name === name)
    : classes.find((c) => c.metadata?.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true');
  if (!found?.metadata?.name) return undefined;
  return {
    name: found.metadata.name,
    provisioner: found.provisioner ?? '',
    ...(found.parameters ? { parameters: found.parameters } : {}),
  };
}

const num = (v: unknown) => (typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : 0) || 0;

/** A longhorn.io/v1beta2 Node: spec.allowScheduling, spec.disks{}, status.diskStatus{}. */
export function longhornNodeFacts(node: Obj): LonghornNodeFacts {
  const spec = (node.spec ?? {}) as {
    allowScheduling?: boolean;
    disks?: Record<string, { allowScheduling?: boolean; storageReserved?: number | string }>;
  };
  const status = (node.status ?? {}) as {
    diskStatus?: Record<
      string,
      {
        storageAvailable?: number | string;
        storageMaximum?: number | string;
        storageScheduled?: number | string;
        conditions?: { type?: string; status?: string }[];
      }
    >;
  };
  const disks = Object.entries(spec.disks ?? {}).map(([id, d]) => {
    const s = status.diskStatus?.[id] ?? {};
    const schedulable = s.conditions?.find((c) => c.type === 'Schedulable');
    return {
      allowScheduling: d.allowScheduling !== false && (!schedulable || schedulable.status === 'True'),
      storageReserved: num(d.storageReserved),
      storageMaximum: num(s.storageMaximum),
      storageAvailable: num(s.storageAvailable),
      storageScheduled: num(s.storageScheduled),
    };
  });
  return { name: node.metadata?.name ?? '', allowScheduling: spec.allowScheduling !== false, disks };
}

export async function capacityFacts(kube: Kube, namespace: string): Promise<CapacityFacts> {
  const [quotas, nodes, settings, capacities] = await Promise.all([
    listIfServed(kube, 'v1', 'ResourceQuota', namespace),
    listIfServed(kube, 'longhorn.io/v1beta2', 'Node', LONGHORN_NAMESPACE),
    listIfServed(kube, 'longhorn.io/v1beta2', 'Setting', LONGHORN_NAMESPACE),
    listIfServed(kube, 'storage.k8s.io/v1', 'CSIStorageCapacity'),
  ]);
  const setting = (name: string) => {
    const v = Number(
      (settings?.find((s) => s.metadata?.name === name) as { value?: unknown } | undefined)?.value,
    );
    return Number.isFinite(v) && v >= 0 ? v : undefined;
  };
  const over = setting('storage-over-provisioning-percentage');
  const minimal = setting('storage-minimal-available-percentage');
  return {
    quotas: (quotas ?? []).map((q): QuotaFacts => {
      const spec = (q.spec ?? {}) as { hard?: Record<string, string> };
      const status = (q.status ?? {}) as { hard?: Record<string, string>; used?: Record<string, string> };
      return { name: q.metadata?.name ?? '', hard: status.hard ?? spec.hard ?? {}, used: status.used ?? {} };
    }),
    ...(nodes ? { longhornNodes: nodes.map(longhornNodeFacts) } : {}),
    csiCapacities: (capacities ?? []).map((c) => {
      const o = c as Obj & CsiCapacityFacts;
      return {
        storageClassName: o.storageClassName,
        ...(o.capacity !== undefined ? { capacity: String(o.capacity) } : {}),
        ...(o.maximumVolumeSize !== undefined ? { maximumVolumeSize: String(o.maximumVolumeSize) } : {}),
      };
    }),
    ...(over !== undefined ? { overProvisioningPercent: over } : {}),
    ...(minimal !== undefined ? { minimalAvailablePercent: minimal } : {}),
  };
}
