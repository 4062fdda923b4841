// Powering the source back on when an import that powered it off ends without its VM: it failed
// (the function that fails it), or it was deleted before its VM existed (cleanup). Pure decisions
// here; source-power-on.ts does the I/O through the source adapter.
//
// The import powered the source off when the export Job asked for a guest shutdown or a power-off
// (VMShutdownGuest / VMPoweringOff True). A source that was already off has only VMPoweredOff: it
// is never powered on. spec.powerOnSourceAfterFailure: false opts out. Either way the import gets
// the condition SourcePoweredOn and an Event, once.
import type { ConditionReason } from './condition-reasons.ts';
import { ImportConditionType, ImportStatus, type VirtualMachineImport } from './api/index.ts';
import { getCondition, isTrue, type ConditionInput } from './condition-list.ts';
import type { EventInput } from './kube/events.ts';

/** What the adapter answered (SourceAdapter.powerOn). */
export interface PowerOnAnswer {
  state: 'on' | 'requested' | 'notApplicable';
  message: string;
}

export interface SourcePowerRecord {
  condition: ConditionInput;
  event: EventInput;
}

export type SourcePowerDecision =
  { action: 'none' } | { action: 'record'; record: SourcePowerRecord } | { action: 'powerOn' };

/** Whether the export Job asked the source to shut down or power off (it was on before). */
export function importPoweredSourceOff(vmImport: VirtualMachineImport): boolean {
  const conditions = vmImport.status?.importConditions;
  return (
    isTrue(conditions, ImportConditionType.ShutdownGuest) ||
    isTrue(conditions, ImportConditionType.PoweringOff)
  );
}

/** Phases in which the import's VM exists: the source stays as it is (the import succeeded). */
const VM_EXISTS: readonly string[] = [ImportStatus.VirtualMachineCreated, ImportStatus.VirtualMachineRunning];

/** The source is not powered on again: SourcePoweredOn=False with `reason`, and an Event saying so. */
function staysOff(
  reason: 'SourceWasOff' | 'PowerOnDisabled',
  message: string,
  eventType: 'Normal' | 'Warning',
): SourcePowerDecision {
  return {
    action: 'record',
    record: {
      condition: { type: ImportConditionType.SourcePoweredOn, status: 'False', reason, message },
      event: { type: eventType, reason, message },
    },
  };
}

/** What to do about the source's power now that the import ends without its VM. */
export function sourcePowerDecision(vmImport: VirtualMachineImport, vmName: string): SourcePowerDecision {
  const conditions = vmImport.status?.importConditions;
  const done = getCondition(conditions, ImportConditionType.SourcePoweredOn);
  if (done && done.status !== 'Unknown') return { action: 'none' };
  if (VM_EXISTS.includes(vmImport.status?.importStatus ?? '')) return { action: 'none' };
  if (!importPoweredSourceOff(vmImport)) {
    // Only worth saying when the import got as far as the power step.
    if (!isTrue(conditions, ImportConditionType.PoweredOff)) return { action: 'none' };
    const powered = getCondition(conditions, ImportConditionType.PoweredOff);
    if (powered?.reason === 'NotApplicable') return { action: 'none' };
    return staysOff(
      'SourceWasOff',
      `source VM ${vmName} was already off before the import; it stays off`,
      'Normal',
    );
  }
  if (vmImport.spec.powerOnSourceAfterFailure === false) {
    return staysOff(
      'PowerOnDisabled',
      `source VM ${vmName} stays powered off: spec.powerOnSourceAfterFailure is false; power it on yourself when needed`,
      'Warning',
    );
  }
  return { action: 'powerOn' };
}

/** The condition and Event for the adapter's answer; undefined for a source without power (OVA). */
export function powerOnRecord(answer: PowerOnAnswer, why: string): SourcePowerRecord | undefined {
  if (answer.state === 'notApplicable') return undefined;
  const reason = answer.state === 'on' ? 'PoweredOn' : 'PowerOnRequested';
  const message = `${answer.message}, as the import ${why} after powering it off`;
  return {
    condition: { type: ImportConditionType.SourcePoweredOn, status: 'True', reason, message },
    event: { type: 'Normal', reason, message },
  };
}

/**
 * The condition and Event when powering on failed. `final`: no one tries again (the import is
 * failed and terminal, or the error needs the user), so the message says what to do.
 */
export function powerOnFailureRecord(
  vmName: string,
  reason: ConditionReason,
  error: string,
  final: boolean,
): SourcePowerRecord {
  const message = final
    ? `could not power source VM ${vmName} back on (${error}); power it on in the source yourself`
    : `powering source VM ${vmName} back on did not work yet (${error}); trying again`;
  return {
    condition: {
      type: ImportConditionType.SourcePoweredOn,
      status: final ? 'False' : 'Unknown',
      reason,
      message,
    },
    event: { type: 'Warning', reason, message },
  };
}
