// Condition lists keyed by type, as Kubernetes and upstream keep them. Pure functions.
import type { Condition } from './api/index.ts';
import type { ConditionReason } from './condition-reasons.ts';

export interface ConditionInput {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: ConditionReason;
  message: string;
}

/** RFC 3339 with second precision, as upstream writes condition times. */
export const conditionTime = (now: Date = new Date()): string => now.toISOString().replace(/\.\d{3}Z$/, 'Z');

export function getCondition(
  list: readonly Condition[] | null | undefined,
  type: string,
): Condition | undefined {
  return list?.find((c) => c.type === type);
}

export function isTrue(list: readonly Condition[] | null | undefined, type: string): boolean {
  return getCondition(list, type)?.status === 'True';
}

/**
 * Returns a new list with `input` set: lastTransitionTime moves only when the status changes,
 * lastUpdateTime on every write.
 */
export function setCondition(
  list: readonly Condition[] | null | undefined,
  input: ConditionInput,
  now: Date = new Date(),
): Condition[] {
  const time = conditionTime(now);
  const current = getCondition(list, input.type);
  const next: Condition = {
    ...input,
    lastUpdateTime: time,
    lastTransitionTime: current && current.status === input.status ? current.lastTransitionTime : time,
  };
  const rest = (list ?? []).filter((c) => c.type !== input.type);
  return current ? (list ?? []).map((c) => (c.type === input.type ? next : c)) : [...rest, next];
}

/**
 * setCondition, with the condition moved to the end of the list: the latest word that the progress
 * view and `kubectl describe` show last, even when a condition of that type existed further up.
 */
export function setConditionLast(
  list: readonly Condition[] | null | undefined,
  input: ConditionInput,
  now: Date = new Date(),
): Condition[] {
  const next = setCondition(list, input, now);
  return [...next.filter((c) => c.type !== input.type), ...next.filter((c) => c.type === input.type)];
}

/** True when setting `input` would change nothing but times (avoids no-op status writes). */
export function conditionUnchanged(
  list: readonly Condition[] | null | undefined,
  input: ConditionInput,
): boolean {
  const c = getCondition(list, input.type);
  return !!c && c.status === input.status && c.reason === input.reason && c.message === input.message;
}
