import type { ReasonsOf } from '../condition-reasons.ts';

/**
 * A disk image that cannot be decoded or written. `reason` is a CamelCase condition reason that
 * callers can put into a condition (or wrap in a SourceError); `message` says what is wrong.
 */
export type DiskErrorReason = ReasonsOf<
  'NotStreamOptimizedVmdk' | 'CorruptVmdk' | 'TruncatedDiskStream' | 'DiskSizeMismatch' | 'DiskTooLarge'
>;

export class DiskFormatError extends Error {
  readonly reason: DiskErrorReason;
  constructor(reason: DiskErrorReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DiskFormatError';
    this.reason = reason;
  }
}
