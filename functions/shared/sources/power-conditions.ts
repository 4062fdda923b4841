// The import conditions that record a source VM's power-off (upstream names), and the power
// state they already tell, so that a re-run export Job resumes where the previous one stopped.
import { ImportConditionType, type Condition } from '../api/index.ts';

export const PowerCondition = {
  ShutdownGuest: ImportConditionType.ShutdownGuest,
  PoweringOff: ImportConditionType.PoweringOff,
  PoweredOff: ImportConditionType.PoweredOff,
} as const;
export type PowerConditionType = (typeof PowerCondition)[keyof typeof PowerCondition];

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
