// An OVA is a file: there is no VM to power off before the export or on again after a failure.
// The export still records VMPoweredOff so that every import shows the same power conditions.
import type { ConditionInput } from '../../condition-list.ts';
import type { PowerOffDeps, PowerOnResult } from '../adapter.ts';
import { PowerCondition } from '../power-conditions.ts';

export const nothingToPowerOff: ConditionInput = {
  type: PowerCondition.PoweredOff,
  status: 'True',
  reason: 'NotApplicable',
  message: 'an OVA is a file: there is no VM to power off',
};

export async function recordNothingToPowerOff(deps: PowerOffDeps): Promise<void> {
  if (!deps.conditions.VMPoweredOff) await deps.record(nothingToPowerOff);
}

export const nothingToPowerOn: PowerOnResult = {
  state: 'notApplicable',
  message: 'an OVA is a file: there is no VM to power on',
};
