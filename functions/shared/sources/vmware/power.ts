// Power I/O for the export: read the VM's power and Tools state, and execute the action that
// nextPowerAction (power-step.ts) decided.
import { SourceError } from '../types.ts';
import type { VmwareConnection } from './connection.ts';
import { findVm, retrieveObjectProperties, type VmLocation } from './inventory.ts';
import {
  nextPowerAction,
  toolsNotRunningMessage,
  type PowerAction,
  type PowerStepInput,
} from './power-step.ts';
import { isVimFault, vimCall, withVimSession, type VimSession } from './session.ts';
import { child, moRefArg, text, toMoRef, xsiType, type MoRef } from './soap-values.ts';

export interface VmPowerState {
  name: string;
  powerState: 'poweredOn' | 'poweredOff' | 'suspended';
  toolsRunning: boolean;
}

const TASK_POLL_MS = 250;
const TASK_TIMEOUT_MS = 120_000;

export async function readPowerState(s: VimSession, vm: MoRef, name: string): Promise<VmPowerState> {
  const props = await retrieveObjectProperties(s, vm, [
    'summary.runtime.powerState',
    'guest.toolsRunningStatus',
  ]);
  const state = text(props.get('summary.runtime.powerState'));
  return {
    name,
    powerState: state === 'poweredOff' || state === 'suspended' ? state : 'poweredOn',
    toolsRunning: text(props.get('guest.toolsRunningStatus')) === 'guestToolsRunning',
  };
}

async function waitForTask(s: VimSession, task: MoRef, what: string): Promise<void> {
  const deadline = Date.now() + TASK_TIMEOUT_MS;
  for (;;) {
    const props = await retrieveObjectProperties(s, task, ['info.state', 'info.error']);
    const state = text(props.get('info.state'));
    if (state === 'success') return;
    if (state === 'error') {
      const error = props.get('info.error');
      const fault = child(error, 'fault');
      const faultType = xsiType(fault);
      if (faultType === 'InvalidPowerState') return; // already off
      throw new SourceError(
        'PowerOffFailed',
        `${what} failed: ${faultType ?? 'error'}${text(child(error, 'localizedMessage')) ? `: ${text(child(error, 'localizedMessage'))}` : ''}`,
        { retryable: true },
      );
    }
    if (Date.now() > deadline)
      throw new SourceError('PowerOffFailed', `${what} did not finish within ${TASK_TIMEOUT_MS / 1000} s`, {
        retryable: true,
      });
    await new Promise((r) => setTimeout(r, TASK_POLL_MS));
  }
}

export async function shutdownGuest(s: VimSession, vm: MoRef, name: string): Promise<void> {
  try {
    await vimCall(s, 'ShutdownGuest', { _this: moRefArg(vm) });
  } catch (err) {
    if (isVimFault(err, 'ToolsUnavailable'))
      throw new SourceError('ToolsNotRunning', toolsNotRunningMessage(name));
    if (isVimFault(err, 'InvalidPowerState')) return; // already off
    throw err;
  }
}

export async function powerOff(s: VimSession, vm: MoRef, name: string): Promise<void> {
  let task: MoRef | undefined;
  try {
    task = toMoRef(await vimCall(s, 'PowerOffVM_Task', { _this: moRefArg(vm) }));
  } catch (err) {
    if (isVimFault(err, 'InvalidPowerState')) return;
    throw err;
  }
  if (task) await waitForTask(s, task, `power-off of VM ${name}`);
}

export interface VmwarePowerStep {
  action: PowerAction;
  vm: VmPowerState;
}

/**
 * One step of the power-off sub-state machine against vCenter: reads the VM's state, decides with
 * nextPowerAction, executes shutdownGuest/powerOff, and returns the action so that the caller
 * records its condition (or fails the import with the action's message, or waits).
 */
export async function stepVmwarePowerOff(
  conn: VmwareConnection,
  dc: string,
  vm: VmLocation,
  input: Omit<PowerStepInput, 'vm' | 'now'> & { now?: Date },
): Promise<VmwarePowerStep> {
  return withVimSession(conn, async (s) => {
    const ref = await findVm(s, dc, vm);
    const state = await readPowerState(s, ref, vm.name);
    const action = nextPowerAction({ ...input, vm: state, now: input.now ?? new Date() });
    if (action.kind === 'shutdownGuest') await shutdownGuest(s, ref, vm.name);
    if (action.kind === 'powerOff') await powerOff(s, ref, vm.name);
    return { action, vm: state };
  });
}

/** The VM's power and Tools state (for status and tests). */
export async function vmwarePowerState(
  conn: VmwareConnection,
  dc: string,
  vm: VmLocation,
): Promise<VmPowerState> {
  return withVimSession(conn, async (s) => readPowerState(s, await findVm(s, dc, vm), vm.name));
}
