// Longhorn's view of a node's disk (pure), as longhorn-manager's node controller writes it into
// nodes.longhorn.io status.diskStatus (controller/node_controller.go
// updateDiskStatusSchedulableCondition): storageScheduled is the sum of the sizes of the replicas
// on the disk; the Schedulable condition follows scheduler/replica_scheduler.go
// IsSchedulableToDisk(0, 0): the disk keeps more than storage-minimal-available-percentage free
// and the scheduled sizes stay within storage-over-provisioning-percentage of (maximum - reserved).

/** Longhorn settings' defaults (types/setting.go). */
export const LONGHORN_SETTINGS = {
  overProvisioningPercent: 100,
  minimalAvailablePercent: 25,
  /** storage-reserved-percentage-for-default-disk: what the default disk keeps from Longhorn. */
  reservedPercentForDefaultDisk: 30,
};

export interface DiskFacts {
  name: string;
  path: string;
  nodeName: string;
  uuid: string;
  storageMaximum: number;
  storageAvailable: number;
  storageReserved: number;
  /** Replica name → volume size, for the replicas on this disk. */
  replicas: Record<string, number>;
}

export interface DiskCondition {
  type: 'Ready' | 'Schedulable';
  status: 'True' | 'False';
  reason: string;
  message: string;
}

export interface DiskStatus {
  diskUUID: string;
  diskType: 'filesystem';
  diskPath: string;
  storageMaximum: number;
  storageAvailable: number;
  storageScheduled: number;
  scheduledReplica: Record<string, number>;
  conditions: DiskCondition[];
}

/** Why no more replicas fit the disk, in the scheduler's words; undefined when they do. */
export function unschedulableBecause(d: DiskFacts, settings = LONGHORN_SETTINGS): string | undefined {
  if (d.storageMaximum <= 0) return 'Storage Max must be greater than 0';
  if (d.storageAvailable <= 0) return 'Storage Available must be greater than 0';
  const minimalAvailable = Math.floor((d.storageMaximum * settings.minimalAvailablePercent) / 100);
  if (d.storageAvailable <= minimalAvailable)
    return `Actual space usage condition failed: CurrentAvailable = ${d.storageAvailable} (StorageAvailable - Required) is less than or equal to MinimalAvailable = ${minimalAvailable} (${settings.minimalAvailablePercent}% of Storage Max).`;
  const scheduled = Object.values(d.replicas).reduce((a, b) => a + b, 0);
  const limit = Math.floor(((d.storageMaximum - d.storageReserved) * settings.overProvisioningPercent) / 100);
  if (scheduled > limit)
    return `Scheduling space condition failed: ScheduledTotal = ${scheduled} (Size + StorageScheduled) is greater than ProvisionedLimit = ${limit} (${settings.overProvisioningPercent}% of StorageMax - StorageReserved). `;
  return undefined;
}

export function diskStatus(d: DiskFacts, settings = LONGHORN_SETTINGS): DiskStatus {
  const why = unschedulableBecause(d, settings);
  return {
    diskUUID: d.uuid,
    diskType: 'filesystem',
    diskPath: d.path,
    storageMaximum: d.storageMaximum,
    storageAvailable: d.storageAvailable,
    storageScheduled: Object.values(d.replicas).reduce((a, b) => a + b, 0),
    scheduledReplica: d.replicas,
    conditions: [
      {
        type: 'Ready',
        status: 'True',
        reason: '',
        message: `Disk ${d.name}(${d.path}) on node ${d.nodeName} is ready`,
      },
      why
        ? {
            type: 'Schedulable',
            status: 'False',
            reason: 'DiskPressure',
            message: `Disk ${d.name} (${d.path}) on the node ${d.nodeName} is not schedulable for more replica; ${why}`,
          }
        : {
            type: 'Schedulable',
            status: 'True',
            reason: '',
            message: `Disk ${d.name}(${d.path}) on node ${d.nodeName} is schedulable`,
          },
    ],
  };
}
