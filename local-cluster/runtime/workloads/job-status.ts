// Pure Job controller logic (batch/v1, non-indexed): from the Job and the phases of its pods,
// compute the status Kubernetes' job controller would write and what to do next.
// Semantics followed: completions/parallelism default 1, backoffLimit default 6, pod failure
// backoff 10s * 2^(failures-1) capped at 6 minutes (base configurable for tests),
// activeDeadlineSeconds counted from status.startTime, suspend, conditions Complete /
// Failed (reasons BackoffLimitExceeded, DeadlineExceeded) with completionTime on success.

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

export interface JobSpecLike {
  completions?: number | null;
  parallelism?: number | null;
  backoffLimit?: number | null;
  activeDeadlineSeconds?: number | null;
  suspend?: boolean | null;
}

export interface JobCondition {
  type: 'Complete' | 'Failed' | 'Suspended';
  status: 'True' | 'False';
  reason?: string;
  message?: string;
  lastProbeTime: string;
  lastTransitionTime: string;
}

export interface JobStatusLike {
  active?: number;
  ready?: number;
  succeeded?: number;
  failed?: number;
  startTime?: string;
  completionTime?: string;
  conditions?: JobCondition[];
}

export interface PodSummary {
  name: string;
  phase: PodPhase;
  /** When the pod finished (for the failure backoff). */
  finishedAt?: string;
  ready?: boolean;
}

export interface JobDecision {
  status: JobStatusLike;
  /** Pods to start now. */
  createPods: number;
  /** Active pods to kill (deadline exceeded, backoff limit reached). */
  killPods: string[];
  /** Re-evaluate after this many ms (deadline or backoff timer), if set. */
  requeueAfterMs?: number;
  finished: boolean;
}

export const DEFAULT_BACKOFF_LIMIT = 6;
const MAX_POD_BACKOFF_MS = 6 * 60_000;

function isActive(p: PodSummary): boolean {
  return p.phase === 'Pending' || p.phase === 'Running' || p.phase === 'Unknown';
}

export function podFailureBackoffMs(failures: number, baseMs: number): number {
  if (failures <= 0) return 0;
  return Math.min(baseMs * 2 ** (failures - 1), MAX_POD_BACKOFF_MS);
}

function finishedCondition(status: JobStatusLike): JobCondition | undefined {
  return status.conditions?.find(
    (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
  );
}

export function decideJob(
  spec: JobSpecLike,
  current: JobStatusLike,
  pods: PodSummary[],
  now: Date,
  backoffBaseMs = 10_000,
): JobDecision {
  const nowIso = now.toISOString();
  const completions = spec.completions ?? 1;
  const parallelism = spec.parallelism ?? 1;
  const backoffLimit = spec.backoffLimit ?? DEFAULT_BACKOFF_LIMIT;
  const active = pods.filter(isActive);
  const succeeded = pods.filter((p) => p.phase === 'Succeeded').length;
  const failed = pods.filter((p) => p.phase === 'Failed').length;
  const status: JobStatusLike = {
    ...current,
    active: active.length,
    ready: active.filter((p) => p.ready).length,
    succeeded,
    failed,
    conditions: [...(current.conditions ?? [])],
  };
  for (const k of ['active', 'ready', 'succeeded', 'failed'] as const) if (status[k] === 0) delete status[k];

  if (finishedCondition(current)) {
    return { status: current, createPods: 0, killPods: active.map((p) => p.name), finished: true };
  }
  const finish = (type: 'Complete' | 'Failed', reason?: string, message?: string): JobDecision => {
    const cond: JobCondition = { type, status: 'True', lastProbeTime: nowIso, lastTransitionTime: nowIso };
    if (reason) cond.reason = reason;
    if (message) cond.message = message;
    status.conditions = [...(status.conditions ?? []).filter((c) => c.type !== type), cond];
    if (type === 'Complete') status.completionTime = nowIso;
    if (type === 'Failed') {
      delete status.active;
      delete status.ready;
    }
    return { status, createPods: 0, killPods: active.map((p) => p.name), finished: true };
  };

  if (succeeded >= completions) return finish('Complete');
  if (failed > backoffLimit)
    return finish('Failed', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit');
  if (spec.suspend) {
    return { status, createPods: 0, killPods: active.map((p) => p.name), finished: false };
  }
  status.startTime ??= nowIso;
  let requeueAfterMs: number | undefined;
  if (spec.activeDeadlineSeconds != null) {
    const deadline = Date.parse(status.startTime) + spec.activeDeadlineSeconds * 1000;
    if (now.getTime() >= deadline) {
      return finish('Failed', 'DeadlineExceeded', 'Job was active longer than specified deadline');
    }
    requeueAfterMs = deadline - now.getTime();
  }
  const wanted = Math.min(parallelism, completions - succeeded) - active.length;
  let createPods = Math.max(0, wanted);
  if (createPods > 0 && failed > 0) {
    const lastFailure = Math.max(
      ...pods.filter((p) => p.phase === 'Failed').map((p) => Date.parse(p.finishedAt ?? nowIso)),
    );
    const readyAt = lastFailure + podFailureBackoffMs(failed, backoffBaseMs);
    if (now.getTime() < readyAt) {
      createPods = 0;
      const wait = readyAt - now.getTime();
      requeueAfterMs = requeueAfterMs === undefined ? wait : Math.min(requeueAfterMs, wait);
    }
  }
  return { status, createPods, killPods: [], requeueAfterMs, finished: false };
}
