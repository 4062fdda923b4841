// Powers the source VM off before the export, recording VMShutdownGuest / VMPoweringOff /
// VMPoweredOff as it goes. Waits inside the Job, bounded by a timeout; abortable.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConditionInput } from '../../shared/conditions.ts';
import type { Logger } from '../../shared/log.ts';
import { OpenstackClient } from '../../shared/sources/openstack/index.ts';
import { SourceError } from '../../shared/sources/types.ts';
import { stepVmwarePowerOff } from '../../shared/sources/vmware/index.ts';
import { openstackTarget, vmwareTarget, type SourceTarget } from '../source-access.ts';
import {
  conditionForPowerAction,
  openstackPoweredOff,
  openstackStopRequested,
  ovaNothingToPowerOff,
  type PowerConditions,
} from './power-conditions.ts';

export interface PowerOffDeps {
  /** Conditions already True (from an earlier run of the Job). */
  conditions: PowerConditions;
  record(condition: ConditionInput): Promise<void>;
  log: Logger;
  signal: AbortSignal;
  vmwareTimeoutMs: number;
  openstackTimeoutMs: number;
}

export async function powerOffSource(t: SourceTarget, deps: PowerOffDeps): Promise<void> {
  switch (t.kind) {
    case 'VmwareSource':
      return powerOffVmware(t, deps);
    case 'OpenstackSource':
      return powerOffOpenstack(t, deps);
    case 'OvaSource':
      if (!deps.conditions.VMPoweredOff) await deps.record(ovaNothingToPowerOff);
      return;
  }
}

async function powerOffVmware(t: SourceTarget, deps: PowerOffDeps): Promise<void> {
  const { conn, dc, vm } = vmwareTarget(t);
  const conditions: PowerConditions = { ...deps.conditions };
  const deadline = Date.now() + deps.vmwareTimeoutMs;
  for (;;) {
    deps.signal.throwIfAborted();
    const now = new Date();
    const step = await stepVmwarePowerOff(conn, dc, vm, {
      forcePowerOff: !!t.imp.spec.forcePowerOff,
      gracefulShutdownTimeoutSeconds: t.imp.spec.gracefulShutdownTimeoutSeconds,
      conditions,
      now,
    });
    const action = step.action;
    if (action.kind === 'done') return;
    if (action.kind === 'fail') throw new SourceError(action.reason, action.message);
    const condition = conditionForPowerAction(action, vm.name, t.imp.spec);
    if (condition) {
      await deps.record(condition);
      conditions[condition.type as keyof PowerConditions] = { since: now };
      deps.log.info('power step', { action: action.kind, vm: vm.name, powerState: step.vm.powerState });
      if (action.kind === 'markPoweredOff') return;
      continue;
    }
    if (Date.now() > deadline)
      throw new SourceError(
        'PowerOffTimeout',
        `VM ${vm.name} was still ${step.vm.powerState} after ${Math.round(deps.vmwareTimeoutMs / 1000)} s (POWER_OFF_TIMEOUT_SECONDS); power it off in vCenter and re-create the import`,
      );
    if (action.kind === 'wait')
      await sleep(action.recheckAfterSeconds * 1000, undefined, { signal: deps.signal });
  }
}

/** OpenStack cannot force a power-off: os-stop, then poll with backoff until SHUTOFF. */
async function powerOffOpenstack(t: SourceTarget, deps: PowerOffDeps): Promise<void> {
  if (deps.conditions.VMPoweredOff) return;
  const { conn, nameOrId } = openstackTarget(t);
  const log = deps.log.child({ source: 'openstack' });
  const client = await OpenstackClient.connect(conn, {
    log: ({ level, msg, ...rest }) => log[level](msg, rest),
  });
  const first = await client.stopServer(nameOrId);
  if (!first.poweredOff && !deps.conditions.VMShutdownGuest)
    await deps.record(openstackStopRequested(first.serverId));
  const deadline = Date.now() + deps.openstackTimeoutMs;
  let delayMs = 1000;
  let off = first.poweredOff;
  while (!off) {
    if (Date.now() > deadline)
      throw new SourceError(
        'PowerOffTimeout',
        `server ${first.serverId} did not reach SHUTOFF within ${Math.round(deps.openstackTimeoutMs / 1000)} s after os-stop (OPENSTACK_STOP_TIMEOUT_SECONDS); stop it in OpenStack and re-create the import`,
      );
    await sleep(delayMs, undefined, { signal: deps.signal });
    delayMs = Math.min(delayMs * 2, 15_000);
    off = await client.isPoweredOff(first.serverId);
  }
  await deps.record(openstackPoweredOff(first.serverId));
}
