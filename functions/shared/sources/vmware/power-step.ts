// The power-off sub-state machine of an export (upstream's triggerExport: force off or ask the
// guest to shut down, wait, force off after the graceful timeout, poll), as a pure
// function: given the import's spec, its power conditions and the VM's current state, what to do
// next. The caller executes the action (power.ts) and records the condition it names
// (conditionForPowerAction).
import type { ConditionReason } from '../../condition-reasons.ts';
import type { ConditionInput } from '../../condition-list.ts';
import { PowerCondition, type PowerConditionType } from '../power-conditions.ts';

export interface PowerConditionState {
  /** When the condition became True. */
  since: Date;
}

export interface PowerStepInput {
  forcePowerOff: boolean;
  /** spec.gracefulShutdownTimeoutSeconds; <= 0 or absent means 60 (upstream default). */
  gracefulShutdownTimeoutSeconds?: number | null;
  /** The import's power conditions that are True. */
  conditions: Partial<Record<PowerConditionType, PowerConditionState>>;
  vm: { name: string; powerState: 'poweredOn' | 'poweredOff' | 'suspended'; toolsRunning: boolean };
  now: Date;
}

export type PowerAction =
  /** Already recorded as off: nothing to do. */
  | { kind: 'done' }
  /** The VM is off: record VMPoweredOff. */
  | { kind: 'markPoweredOff'; condition: 'VMPoweredOff' }
  /** Ask the guest to shut down (needs VMware Tools); record VMShutdownGuest. */
  | { kind: 'shutdownGuest'; condition: 'VMShutdownGuest' }
  /** Hard power-off; record VMPoweringOff. */
  | { kind: 'powerOff'; condition: 'VMPoweringOff'; why: 'forced' | 'gracefulTimeout' | 'retry' }
  /** Check again later. */
  | { kind: 'wait'; recheckAfterSeconds: number }
  /** Cannot proceed without the user: a terminal failure with a message. */
  | { kind: 'fail'; reason: ConditionReason; message: string };

export const DEFAULT_GRACEFUL_SHUTDOWN_SECONDS = 60;
/** Poll interval while waiting for the VM to go off (upstream: 5 s). */
export const POWER_POLL_SECONDS = 5;
/** A hard power-off that has not taken effect after this long is issued again. */
export const POWER_OFF_RETRY_SECONDS = 60;

export function toolsNotRunningMessage(vmName: string): string {
  return `cannot shutdown guest OS, VMware Tools is not running in the VM ${vmName}. Shut down the VM manually or use the 'spec.forcePowerOff' field`;
}

export function nextPowerAction(input: PowerStepInput): PowerAction {
  const { conditions, vm, now } = input;
  if (conditions.VMPoweredOff) return { kind: 'done' };
  if (vm.powerState === 'poweredOff') return { kind: 'markPoweredOff', condition: 'VMPoweredOff' };

  const poweringOff = conditions.VMPoweringOff;
  if (poweringOff) {
    const elapsed = (now.getTime() - poweringOff.since.getTime()) / 1000;
    if (elapsed >= POWER_OFF_RETRY_SECONDS)
      return { kind: 'powerOff', condition: 'VMPoweringOff', why: 'retry' };
    return {
      kind: 'wait',
      recheckAfterSeconds: Math.min(POWER_POLL_SECONDS, POWER_OFF_RETRY_SECONDS - elapsed),
    };
  }
  if (input.forcePowerOff) return { kind: 'powerOff', condition: 'VMPoweringOff', why: 'forced' };

  const shutdown = conditions.VMShutdownGuest;
  if (!shutdown) {
    // A suspended guest runs no Tools either; ShutdownGuest would fail.
    if (vm.powerState !== 'poweredOn' || !vm.toolsRunning)
      return { kind: 'fail', reason: 'ToolsNotRunning', message: toolsNotRunningMessage(vm.name) };
    return { kind: 'shutdownGuest', condition: 'VMShutdownGuest' };
  }
  const timeout = gracefulTimeoutSeconds(input);
  const elapsed = (now.getTime() - shutdown.since.getTime()) / 1000;
  if (elapsed > timeout) return { kind: 'powerOff', condition: 'VMPoweringOff', why: 'gracefulTimeout' };
  return {
    kind: 'wait',
    recheckAfterSeconds: Math.min(POWER_POLL_SECONDS, Math.max(0.1, timeout - elapsed)),
  };
}

export const gracefulTimeoutSeconds = (spec: { gracefulShutdownTimeoutSeconds?: number | null }) =>
  spec.gracefulShutdownTimeoutSeconds && spec.gracefulShutdownTimeoutSeconds > 0
    ? spec.gracefulShutdownTimeoutSeconds
    : DEFAULT_GRACEFUL_SHUTDOWN_SECONDS;

/** The condition to record for a power action; undefined for done / wait / fail. */
export function conditionForPowerAction(
  action: PowerAction,
  vmName: string,
  spec: { gracefulShutdownTimeoutSeconds?: number | null },
): ConditionInput | undefined {
  switch (action.kind) {
    case 'markPoweredOff':
      return {
        type: PowerCondition.PoweredOff,
        status: 'True',
        reason: 'PoweredOff',
        message: `VM ${vmName} is powered off`,
      };
    case 'shutdownGuest':
      return {
        type: PowerCondition.ShutdownGuest,
        status: 'True',
        reason: 'GuestShutdownRequested',
        message: `asked the guest OS of VM ${vmName} to shut down (VMware Tools); it is powered off after ${gracefulTimeoutSeconds(spec)} s otherwise`,
      };
    case 'powerOff': {
      const [reason, why]: [ConditionReason, string] =
        action.why === 'forced'
          ? ['ForcePowerOff', 'spec.forcePowerOff is set']
          : action.why === 'gracefulTimeout'
            ? [
                'GracefulShutdownTimeout',
                `the guest did not shut down within ${gracefulTimeoutSeconds(spec)} s`,
              ]
            : ['PowerOffRetried', 'the earlier power-off did not take effect'];
      return {
        type: PowerCondition.PoweringOff,
        status: 'True',
        reason,
        message: `powering off VM ${vmName}: ${why}`,
      };
    }
    default:
      return undefined;
  }
}
