// The error every source operation throws: a CamelCase condition reason and a message a user can
// act on, never containing a secret. `retryable` says whether trying again later may succeed
// (network, 5xx, not ready) or the user must change something first.
import type { ConditionReason } from '../condition-reasons.ts';

export class SourceError extends Error {
  readonly reason: ConditionReason;
  readonly retryable: boolean;
  constructor(
    reason: ConditionReason,
    message: string,
    options: { retryable?: boolean; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SourceError';
    this.reason = reason;
    this.retryable = options.retryable ?? false;
  }
}

export type SourceVerdict =
  | { verdict: 'valid'; warnings?: string[] }
  | { verdict: 'invalid'; reason: ConditionReason; message: string }
  | { verdict: 'wait'; reason: ConditionReason; message: string };

/** Turns an error into a verdict: retryable source errors wait, others make the import invalid. */
export function verdictOfError(e: unknown): Exclude<SourceVerdict, { verdict: 'valid' }> {
  if (e instanceof SourceError)
    return e.retryable
      ? { verdict: 'wait', reason: e.reason, message: e.message }
      : { verdict: 'invalid', reason: e.reason, message: e.message };
  return { verdict: 'wait', reason: 'PreflightError', message: e instanceof Error ? e.message : String(e) };
}
