// The space check of preflight (before the export Job powers the source off): what the import
// needs (the disks' virtual sizes from the source, the scratch size) against what the target and
// scratch classes can hold (capacity.ts), as the StorageCapacity condition.
import type { ConditionReason } from '../shared/condition-reasons.ts';
import { ImportConditionType, type VirtualMachineImport } from '../shared/api/index.ts';
import type { ConditionInput } from '../shared/condition-list.ts';
import type { Kube } from '../shared/kube/client.ts';
import { stringSetting } from '../shared/settings.ts';
import { capacityVerdict, formatGiB, type CapacityVerdict } from './capacity.ts';
import { capacityFacts, storageClassFacts } from './capacity-facts.ts';

export interface ImportSize {
  /** Virtual size of each disk; undefined when the source cannot tell before the export (OVA). */
  diskBytes?: number[];
  scratchBytes: number;
}

export type CapacityOutcome =
  | { verdict: 'fits' | 'unknown'; condition: ConditionInput }
  | { verdict: 'noRoom'; reason: ConditionReason; message: string };

export async function checkCapacity(
  kube: Kube,
  vmImport: VirtualMachineImport,
  size: ImportSize,
): Promise<CapacityOutcome> {
  const namespace = vmImport.metadata.namespace ?? 'default';
  const [target, scratch] = await Promise.all([
    storageClassFacts(kube, vmImport.spec.storageClass ?? undefined),
    storageClassFacts(kube, stringSetting('SCRATCH_STORAGE_CLASS') || undefined),
  ]);
  if (!target || !scratch) {
    const which = !target
      ? (vmImport.spec.storageClass ?? 'the default StorageClass')
      : 'the scratch StorageClass';
    return unknown(`capacity is unknown: ${which} is not there to ask; the import goes on`);
  }
  const verdict: CapacityVerdict = capacityVerdict(
    {
      diskBytes: size.diskBytes ?? [],
      scratchBytes: size.scratchBytes,
      targetClass: target,
      scratchClass: scratch,
    },
    await capacityFacts(kube, namespace),
  );
  const disksUnknown = size.diskBytes
    ? ''
    : `; the disks' sizes are known only once the export reads them, so only the ${formatGiB(size.scratchBytes)} scratch volume was counted`;
  switch (verdict.verdict) {
    case 'noRoom':
      return verdict;
    case 'unknown':
      return unknown(verdict.message + disksUnknown);
    case 'fits':
      return {
        verdict: 'fits',
        condition: {
          type: ImportConditionType.StorageCapacity,
          status: 'True',
          reason: 'CapacityAvailable',
          message: verdict.message + disksUnknown,
        },
      };
  }
}

const unknown = (message: string): CapacityOutcome => ({
  verdict: 'unknown',
  condition: {
    type: ImportConditionType.StorageCapacity,
    status: 'Unknown',
    reason: 'CapacityUnknown',
    message,
  },
});
