// Which upstream power condition (VMShutdownGuest, VMPoweringOff, VMPoweredOff) the export Job
// records for each power action, and the reverse: the power state the conditions already tell
// (so a re-run Job resumes where the previous one stopped). Pure.
import type { Condition } from '../../shared/api/index.ts';
import type { ConditionInput } from '../../shared/conditions.ts';
import {
  DEFAULT_GRACEFUL_SHUTDOWN_SECONDS,
  PowerCondition,
  type PowerAction,
  type PowerConditionType,
} from '../../shared/sources/vmware/index.ts';

export type PowerConditions = Partial<Record<PowerConditionType, { since: Date }>>;

/** The power conditions that are True, with the time they became True. */
export function powerConditionsOf(list: readonly Condition[] | null | undefined): PowerConditions {
  const out: PowerConditions = {};
  for (const type of Object.values(PowerCondition)) {
    const c = list?.find((x) => x.type === type && x.status === 'True');
    if (!c) continue;
    const since = new Date(c.lastTransitionTime ?? c.lastUpdateTime ?? '');
    out[type] = { since: Number.isNaN(since.getTime()) ? new Date() : since };
  }
  return out;
}

export const gracefulTimeoutSeconds = (spec: { gracefulShutdownTimeoutSeconds?: number | null }) =>
  spec.gracefulShutdownTimeoutSeconds && spec.gracefulShutdownTimeoutSeconds > 0
    ? spec.gracefulShutdownTimeoutSeconds
    : DEFAULT_GRACEFUL_SHUTDOWN_SECONDS;

/** The condition to record for a VMware power action; undefined for done / wait / fail. */
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
      const [reason, why] =
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

/** OpenStack and OVA: the conditions of their simpler power sequences. */
export const openstackStopRequested = (server: string): ConditionInput => ({
  type: PowerCondition.ShutdownGuest,
  status: 'True',
  reason: 'StopRequested',
  message: `asked OpenStack to stop server ${server} (os-stop)`,
});
export const openstackPoweredOff = (server: string): ConditionInput => ({
  type: PowerCondition.PoweredOff,
  status: 'True',
  reason: 'PoweredOff',
  message: `server ${server} is SHUTOFF`,
});
export const ovaNothingToPowerOff: ConditionInput = {
  type: PowerCondition.PoweredOff,
  status: 'True',
  reason: 'NotApplicable',
  message: 'an OVA is a file: there is no VM to power off',
};
