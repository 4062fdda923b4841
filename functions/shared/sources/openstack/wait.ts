// Waiting for an asynchronous status with exponential backoff and a deadline (never a fixed-sleep
// loop without bound). The decision about each observed state is a pure function of the caller.
import { setTimeout as sleep } from 'node:timers/promises';
import { SourceError } from '../source-error.ts';

export type WaitVerdict = { done: true } | { done: false } | { failed: string };

export interface WaitOptions {
  /** First delay between polls (ms). */
  initialMs: number;
  /** Upper bound of the delay between polls (ms). */
  maxMs: number;
  /** Give up after this long (ms). */
  timeoutMs: number;
  signal?: AbortSignal;
  /** "snapshot 1234 to become available", for messages. */
  what: string;
}

/** Delays between polls: initial, doubled each time, capped at max. Pure. */
export function backoffDelays(initialMs: number, maxMs: number, count: number): number[] {
  const out: number[] = [];
  let d = Math.max(1, initialMs);
  for (let i = 0; i < count; i++) {
    out.push(Math.min(d, maxMs));
    d *= 2;
  }
  return out;
}

/**
 * Polls until `judge` says done or failed, or the deadline passes. Returns the last observation.
 * `onFailed` turns a failure into the error to throw (it may look up a reason first).
 */
export async function waitFor<T>(
  poll: () => Promise<T>,
  judge: (value: T) => WaitVerdict,
  options: WaitOptions,
  onFailed: (reason: string, value: T) => Promise<SourceError> | SourceError = (reason) =>
    new SourceError('OpenstackResourceFailed', reason),
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let delay = Math.max(1, options.initialMs);
  for (;;) {
    options.signal?.throwIfAborted();
    const value = await poll();
    const verdict = judge(value);
    if ('failed' in verdict) throw await onFailed(verdict.failed, value);
    if (verdict.done) return value;
    const left = deadline - Date.now();
    if (left <= 0)
      throw new SourceError(
        'OpenstackTimeout',
        `Timed out after ${Math.round(options.timeoutMs / 1000)} s waiting for ${options.what}.`,
        { retryable: true },
      );
    await sleep(
      Math.min(delay, options.maxMs, left),
      undefined,
      options.signal ? { signal: options.signal } : {},
    );
    delay *= 2;
  }
}
