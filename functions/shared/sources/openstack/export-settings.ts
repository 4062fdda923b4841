// How long and how often the export of a server polls and waits, from the OpenstackSource spec.

export interface OpenstackExportSettings {
  /** OpenstackSource spec.uploadImageRetryCount (<= 0 or missing → 30). */
  uploadImageRetryCount?: number | null;
  /** OpenstackSource spec.uploadImageRetryDelay in seconds (<= 0 or missing → 10). */
  uploadImageRetryDelay?: number | null;
  /** First delay between status polls (ms, default 1000); doubles up to pollMaxMs. */
  pollInitialMs?: number;
  pollMaxMs?: number;
  /** Deadline of snapshot/volume waits (default 2 h, as upstream). */
  waitTimeoutMs?: number;
  /** Deadline of each cleanup step (default 10 min). */
  cleanupTimeoutMs?: number;
}

export interface ExportTiming {
  pollInitialMs: number;
  pollMaxMs: number;
  waitTimeoutMs: number;
  cleanupTimeoutMs: number;
  imagePollMaxMs: number;
  imageTimeoutMs: number;
}

/**
 * Upstream polls the uploaded image `count` times, `delay` seconds apart. We keep that total
 * budget (count × delay) as the deadline and poll with backoff capped at `delay`.
 */
export function exportTiming(s: OpenstackExportSettings): ExportTiming {
  const count = s.uploadImageRetryCount && s.uploadImageRetryCount > 0 ? s.uploadImageRetryCount : 30;
  const delayS = s.uploadImageRetryDelay && s.uploadImageRetryDelay > 0 ? s.uploadImageRetryDelay : 10;
  const pollMaxMs = s.pollMaxMs ?? 10_000;
  return {
    pollInitialMs: s.pollInitialMs ?? 1000,
    pollMaxMs,
    waitTimeoutMs: s.waitTimeoutMs ?? 2 * 3600_000,
    cleanupTimeoutMs: s.cleanupTimeoutMs ?? 600_000,
    imagePollMaxMs: delayS * 1000,
    imageTimeoutMs: count * delayS * 1000,
  };
}
