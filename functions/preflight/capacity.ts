// Whether the target storage can hold an import before its source is powered off (pure). The
// function gathers the facts (ResourceQuotas, Longhorn Node objects, CSIStorageCapacity objects,
// the StorageClasses); this decides, with a message naming the class, the need and what is free.
//
//  * ResourceQuota (namespace): `requests.storage` and `persistentvolumeclaims` against every
//    volume the import creates (scratch + one per disk), and the scratch class's
//    `<class>.storageclass.storage.k8s.io/…` entries (the disks' per-image classes do not exist
//    yet, so no class-specific quota can name them).
//  * Longhorn (provisioner driver.longhorn.io) when nodes.longhorn.io are published: the space the
//    scheduler can still give (per disk that allows scheduling: the smaller of what the
//    over-provisioning limit leaves and what is actually free above the minimal-available
//    reserve) against Σ virtual size x numberOfReplicas + Σ virtual size (the backing-image copy)
//    + the scratch volume when it is on Longhorn too.
//  * Any other provisioner: its CSIStorageCapacity objects when published (every volume must fit
//    one topology segment: maximumVolumeSize, else capacity); none published → capacity unknown,
//    the import goes on with a condition that says so.
// Not re-exported from the package index; the package has no exports map, so the module is reachable.
import type { ConditionReason } from '../shared/condition-reasons.ts';
import { quantityToScalar } from '@kubernetes/client-node/dist/util.js';

export const LONGHORN_PROVISIONER = 'driver.longhorn.io';
/** Longhorn settings' defaults (storage-over-provisioning-percentage, storage-minimal-available-percentage). */
export const LONGHORN_DEFAULT_OVERPROVISIONING_PERCENT = 100;
export const LONGHORN_DEFAULT_MINIMAL_AVAILABLE_PERCENT = 25;

export interface ClassFacts {
  name: string;
  provisioner: string;
  parameters?: Record<string, string>;
}

export interface QuotaFacts {
  name: string;
  hard: Record<string, string>;
  used: Record<string, string>;
}

export interface LonghornDiskFacts {
  allowScheduling: boolean;
  storageReserved: number;
  storageMaximum: number;
  storageAvailable: number;
  storageScheduled: number;
}

export interface LonghornNodeFacts {
  name: string;
  allowScheduling: boolean;
  disks: LonghornDiskFacts[];
}

export interface CsiCapacityFacts {
  storageClassName: string;
  capacity?: string;
  maximumVolumeSize?: string;
}

export interface StorageNeed {
  /** Virtual size of each disk, bytes (one PVC and one image each). */
  diskBytes: number[];
  scratchBytes: number;
  /** The class the disks' images and volumes take their parameters from. */
  targetClass: ClassFacts;
  scratchClass: ClassFacts;
}

export interface CapacityFacts {
  quotas: QuotaFacts[];
  /** undefined: nodes.longhorn.io is not published in this cluster. */
  longhornNodes?: LonghornNodeFacts[];
  csiCapacities: CsiCapacityFacts[];
  overProvisioningPercent?: number;
  minimalAvailablePercent?: number;
}

export type CapacityVerdict =
  | { verdict: 'fits'; message: string }
  | { verdict: 'unknown'; message: string }
  | { verdict: 'noRoom'; reason: ConditionReason; message: string };

/** Bytes of a Kubernetes quantity; undefined when it cannot be read. */
export function bytesOf(quantity: string | undefined): number | undefined {
  if (quantity === undefined || quantity === '') return undefined;
  try {
    const n = Number(quantityToScalar(quantity));
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

const GIB = 1024 ** 3;
export function formatGiB(bytes: number): string {
  return `${(bytes / GIB).toFixed(bytes < 10 * GIB ? 2 : 1)} GiB`;
}

function quotaVerdict(need: StorageNeed, quotas: QuotaFacts[]): CapacityVerdict | undefined {
  const volumes = need.diskBytes.length + 1;
  const total = need.diskBytes.reduce((a, b) => a + b, 0) + need.scratchBytes;
  const scratchKey = `${need.scratchClass.name}.storageclass.storage.k8s.io`;
  const checks: [key: string, wanted: number, unit: 'bytes' | 'count', what: string][] = [
    ['requests.storage', total, 'bytes', `${volumes} volume(s): the scratch and one per disk`],
    ['persistentvolumeclaims', volumes, 'count', `${volumes} volume(s)`],
    [`${scratchKey}/requests.storage`, need.scratchBytes, 'bytes', 'the scratch volume'],
    [`${scratchKey}/persistentvolumeclaims`, 1, 'count', 'the scratch volume'],
  ];
  for (const q of quotas) {
    for (const [key, wanted, unit, what] of checks) {
      const hard = unit === 'bytes' ? bytesOf(q.hard[key]) : Number(q.hard[key] ?? NaN);
      if (hard === undefined || Number.isNaN(hard)) continue;
      const used = (unit === 'bytes' ? bytesOf(q.used[key]) : Number(q.used[key] ?? 0)) ?? 0;
      const free = Math.max(0, hard - used);
      if (wanted > free) {
        const show = (n: number) => (unit === 'bytes' ? formatGiB(n) : String(n));
        return {
          verdict: 'noRoom',
          reason: 'QuotaExceeded',
          message: `ResourceQuota ${q.name} allows ${show(free)} more of ${key} (hard ${show(hard)}, used ${show(used)}); the import needs ${show(wanted)} for ${what}. Raise the quota or free space, then re-create the import`,
        };
      }
    }
  }
  return undefined;
}

/**
 * Space the Longhorn scheduler can still place replicas in, summed over schedulable disks. Follows
 * longhorn-manager scheduler/replica_scheduler.go IsSchedulableToDisk: a replica of `size` fits a
 * disk when available - size > maximum x minimal-available% and
 * size + scheduled <= (maximum - reserved) x over-provisioning%.
 */
export function longhornSchedulableBytes(
  nodes: LonghornNodeFacts[],
  overProvisioningPercent = LONGHORN_DEFAULT_OVERPROVISIONING_PERCENT,
  minimalAvailablePercent = LONGHORN_DEFAULT_MINIMAL_AVAILABLE_PERCENT,
): number {
  let total = 0;
  for (const node of nodes) {
    if (!node.allowScheduling) continue;
    for (const d of node.disks) {
      if (!d.allowScheduling) continue;
      const provisionable =
        ((d.storageMaximum - d.storageReserved) * overProvisioningPercent) / 100 - d.storageScheduled;
      const actual = d.storageAvailable - (d.storageMaximum * minimalAvailablePercent) / 100;
      total += Math.max(0, Math.min(provisionable, actual));
    }
  }
  return total;
}

const replicasOf = (c: ClassFacts) => {
  const n = Number(c.parameters?.numberOfReplicas ?? 3);
  return Number.isInteger(n) && n > 0 ? n : 3;
};

function longhornVerdict(need: StorageNeed, facts: CapacityFacts): CapacityVerdict {
  const disks = need.diskBytes.reduce((a, b) => a + b, 0);
  const replicas = replicasOf(need.targetClass);
  const scratchOnLonghorn = need.scratchClass.provisioner === LONGHORN_PROVISIONER;
  const scratchReplicas = scratchOnLonghorn ? replicasOf(need.scratchClass) : 0;
  const wanted = disks * replicas + disks + need.scratchBytes * scratchReplicas;
  const free = longhornSchedulableBytes(
    facts.longhornNodes ?? [],
    facts.overProvisioningPercent,
    facts.minimalAvailablePercent,
  );
  const detail = `${formatGiB(disks)} of disks x ${replicas} replica(s) + ${formatGiB(disks)} backing-image copy${scratchOnLonghorn ? ` + ${formatGiB(need.scratchBytes)} scratch x ${scratchReplicas}` : ''}`;
  if (wanted > free)
    return {
      verdict: 'noRoom',
      reason: 'InsufficientStorage',
      message: `StorageClass ${need.targetClass.name} (Longhorn) cannot hold the import: it needs ${formatGiB(wanted)} (${detail}), the Longhorn nodes can schedule ${formatGiB(free)}. Free space, add disks, lower numberOfReplicas or choose another spec.storageClass; the source was not touched`,
    };
  return {
    verdict: 'fits',
    message: `StorageClass ${need.targetClass.name} (Longhorn): needs ${formatGiB(wanted)} (${detail}), ${formatGiB(free)} schedulable`,
  };
}

function csiVerdict(cls: ClassFacts, volumes: number[], facts: CapacityFacts, what: string): CapacityVerdict {
  const published = facts.csiCapacities.filter((c) => c.storageClassName === cls.name);
  if (!published.length)
    return {
      verdict: 'unknown',
      message: `capacity of StorageClass ${cls.name} (${cls.provisioner}) is unknown: it publishes no CSIStorageCapacity; the import goes on`,
    };
  // A volume lands in one topology segment: it must fit the best one.
  const best = Math.max(...published.map((c) => bytesOf(c.maximumVolumeSize) ?? bytesOf(c.capacity) ?? 0));
  const largest = Math.max(0, ...volumes);
  const total = volumes.reduce((a, b) => a + b, 0);
  const space = Math.max(...published.map((c) => bytesOf(c.capacity) ?? 0));
  if (largest > best || total > published.reduce((n, c) => n + (bytesOf(c.capacity) ?? 0), 0))
    return {
      verdict: 'noRoom',
      reason: 'InsufficientStorage',
      message: `StorageClass ${cls.name} (${cls.provisioner}) cannot hold ${what}: it needs ${formatGiB(total)} (largest volume ${formatGiB(largest)}), its CSIStorageCapacity reports ${formatGiB(space)} free in the best segment. Free space or choose another class; the source was not touched`,
    };
  return {
    verdict: 'fits',
    message: `StorageClass ${cls.name}: needs ${formatGiB(total)}, CSIStorageCapacity reports ${formatGiB(space)}`,
  };
}

/** The verdict: the first shortage found, else "capacity unknown" if any class is, else fits. */
export function capacityVerdict(need: StorageNeed, facts: CapacityFacts): CapacityVerdict {
  const quota = quotaVerdict(need, facts.quotas);
  if (quota) return quota;
  const verdicts: CapacityVerdict[] = [];
  const targetLonghorn = need.targetClass.provisioner === LONGHORN_PROVISIONER;
  // No Node objects (the CRD without a running Longhorn) tell nothing either.
  const nodesKnown = !!facts.longhornNodes?.length;
  if (targetLonghorn) {
    if (nodesKnown) verdicts.push(longhornVerdict(need, facts));
    else
      verdicts.push({
        verdict: 'unknown',
        message: `capacity of StorageClass ${need.targetClass.name} (Longhorn) is unknown: no nodes.longhorn.io are published; the import goes on`,
      });
  } else verdicts.push(csiVerdict(need.targetClass, need.diskBytes, facts, 'the disks'));
  if (need.scratchClass.provisioner !== LONGHORN_PROVISIONER)
    verdicts.push(csiVerdict(need.scratchClass, [need.scratchBytes], facts, 'the scratch volume'));
  else if (!targetLonghorn)
    verdicts.push(
      nodesKnown
        ? longhornVerdict({ ...need, diskBytes: [], targetClass: need.scratchClass }, facts)
        : {
            verdict: 'unknown',
            message: `capacity of StorageClass ${need.scratchClass.name} (Longhorn, scratch) is unknown: no nodes.longhorn.io are published; the import goes on`,
          },
    );
  const noRoom = verdicts.find((v) => v.verdict === 'noRoom');
  if (noRoom) return noRoom;
  const unknown = verdicts.filter((v) => v.verdict === 'unknown');
  if (unknown.length) return { verdict: 'unknown', message: unknown.map((v) => v.message).join('; ') };
  return { verdict: 'fits', message: verdicts.map((v) => v.message).join('; ') };
}
