// When a source needs (re-)verification, and the status that a verification result gives. Pure.
import type { ConditionReason } from '../shared/condition-reasons.ts';
import {
  CLUSTER_NOT_READY,
  CLUSTER_READY,
  SourceConditionType,
  type SourceStatus,
} from '../shared/api/index.ts';
import { getCondition, setCondition } from '../shared/condition-list.ts';

/** A ready source is verified again this often (credential rotation, endpoint death). */
export const REVERIFY_READY_MS = 5 * 60_000;
/** A source that failed verification is tried again this often (each resync tick brings it here). */
export const REVERIFY_NOT_READY_MS = 30_000;

export function needsVerification(
  status: SourceStatus | undefined,
  generation: number | undefined,
  now: Date,
): boolean {
  if (!status?.status) return true;
  if ((status.observedGeneration ?? undefined) !== generation) return true;
  const last = getCondition(status.conditions, SourceConditionType.ClusterReady)?.lastUpdateTime;
  const age = last ? now.getTime() - Date.parse(last) : Infinity;
  return age >= (status.status === CLUSTER_READY ? REVERIFY_READY_MS : REVERIFY_NOT_READY_MS);
}

export type VerificationResult = { ok: true } | { ok: false; reason: ConditionReason; message: string };

export function statusAfter(
  status: SourceStatus | undefined,
  result: VerificationResult,
  generation: number | undefined,
  now: Date,
): SourceStatus {
  const ready = result.ok;
  const reason = result.ok ? 'Verified' : result.reason;
  const message = result.ok ? 'endpoint reachable and credentials accepted' : result.message;
  let conditions = setCondition(
    status?.conditions,
    { type: SourceConditionType.ClusterReady, status: ready ? 'True' : 'False', reason, message },
    now,
  );
  conditions = setCondition(
    conditions,
    { type: SourceConditionType.ClusterError, status: ready ? 'False' : 'True', reason, message },
    now,
  );
  return {
    ...status,
    status: ready ? CLUSTER_READY : CLUSTER_NOT_READY,
    conditions,
    observedGeneration: generation ?? null,
  };
}
