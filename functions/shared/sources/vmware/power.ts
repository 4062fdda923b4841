// Power I/O: read the VM's power and Tools state; power it off before the export, one step at a
// time as nextPowerAction (power-step.ts) decides, until it is off; power it on again.
import type { ConditionReason } from '../../condition-reasons.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PowerOffDeps, PowerOnResult } from '../adapter.ts';
import { SourceError } from '../source-error.ts';
import type { PowerConditionType } from '../power-conditions.ts';
import type { VmwareConnection } from './connection.ts';
import { findVm, retrieveObjectProperties, type VmLocation } from './inventory.ts';
import {
  conditionForPowerAction,
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

/**
 * Polls a vSphere task until it ends. `running` when it still runs after `timeoutMs` and the
 * caller accepts that (`orRunning`); InvalidPowerState counts as success (already in that state).
 */
async function waitForTask(
  s: VimSession,
  task: MoRef,
  what: string,
  failReason: ConditionReason,
  options: { timeoutMs?: number; orRunning?: boolean } = {},
): Promise<'success' | 'running'> {
  const timeoutMs = options.timeoutMs ?? TASK_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const props = await retrieveObjectProperties(s, task, ['info.state', 'info.error']);
    const state = text(props.get('info.state'));
    if (state === 'success') return 'success';
    if (state === 'error') {
      const error = props.get('info.error');
      const fault = child(error, 'fault');
      const faultType = xsiType(fault);
      if (faultType === 'InvalidPowerState') return 'success';
      throw new SourceError(
        failReason,
        `${what} failed: ${faultType ?? 'error'}${text(child(error, 'localizedMessage')) ? `: ${text(child(error, 'localizedMessage'))}` : ''}`,
        { retryable: true },
      );
    }
    if (Date.now() > deadline) {
      if (options.orRunning) return 'running';
      throw new SourceError(failReason, `${what} did not finish within ${timeoutMs / 1000} s`, {
        retryable: true,
      });
    }
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
  if (task) await waitForTask(s, task, `power-off of VM ${name}`, 'PowerOffFailed');
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

/**
 * Powers the VM off, recording each step's condition, until vCenter reports it off. Bounded by
 * `timeoutMs` (POWER_OFF_TIMEOUT_SECONDS); the conditions let a re-run Job resume.
 */
export async function powerOffVmwareVm(
  conn: VmwareConnection,
  dc: string,
  vm: VmLocation,
  spec: { forcePowerOff?: boolean | null; gracefulShutdownTimeoutSeconds?: number | null },
  deps: PowerOffDeps,
  timeoutMs: number,
): Promise<void> {
  const conditions = { ...deps.conditions };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    deps.signal.throwIfAborted();
    const now = new Date();
    const step = await stepVmwarePowerOff(conn, dc, vm, {
      forcePowerOff: !!spec.forcePowerOff,
      gracefulShutdownTimeoutSeconds: spec.gracefulShutdownTimeoutSeconds,
      conditions,
      now,
    });
    const action = step.action;
    if (action.kind === 'done') return;
    if (action.kind === 'fail') throw new SourceError(action.reason, action.message);
    const condition = conditionForPowerAction(action, vm.name, spec);
    if (condition) {
      await deps.record(condition);
      conditions[condition.type as PowerConditionType] = { since: now };
      deps.log.info('power step', { action: action.kind, vm: vm.name, powerState: step.vm.powerState });
      if (action.kind === 'markPoweredOff') return;
      continue;
    }
    if (Date.now() > deadline)
      throw new SourceError(
        'PowerOffTimeout',
        `VM ${vm.name} was still ${step.vm.powerState} after ${Math.round(timeoutMs / 1000)} s (POWER_OFF_TIMEOUT_SECONDS); power it off in vCenter and re-create the import`,
      );
    if (action.kind === 'wait')
      await sleep(action.recheckAfterSeconds * 1000, undefined, { signal: deps.signal });
  }
}

/** How long powerOn waits for vCenter's task before answering `requested`. */
const POWER_ON_TASK_WAIT_MS = 15_000;

/** PowerOnVM_Task unless the VM runs already; waits briefly for the task to end. */
export async function powerOnVmwareVm(
  conn: VmwareConnection,
  dc: string,
  vm: VmLocation,
): Promise<PowerOnResult> {
  return withVimSession(conn, async (s) => {
    const ref = await findVm(s, dc, vm);
    const state = await readPowerState(s, ref, vm.name);
    if (state.powerState === 'poweredOn') return { state: 'on', message: `VM ${vm.name} is powered on` };
    let task: MoRef | undefined;
    try {
      task = toMoRef(await vimCall(s, 'PowerOnVM_Task', { _this: moRefArg(ref) }));
    } catch (err) {
      if (isVimFault(err, 'InvalidPowerState'))
        return { state: 'on', message: `VM ${vm.name} is powered on` };
      throw err;
    }
    const outcome = task
      ? await waitForTask(s, task, `power-on of VM ${vm.name}`, 'PowerOnFailed', {
          timeoutMs: POWER_ON_TASK_WAIT_MS,
          orRunning: true,
        })
      : 'running';
    return outcome === 'success'
      ? { state: 'on', message: `VM ${vm.name} was powered on` }
      : { state: 'requested', message: `asked vCenter to power on VM ${vm.name}` };
  });
}
