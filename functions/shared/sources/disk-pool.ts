// Runs one export per disk, at most `concurrency` at a time (EXPORT_DISK_CONCURRENCY). The first
// failure aborts `stop` so the other disks stop at once; it is thrown after every started disk
// settled, so that no download still writes into the scratch volume when the caller cleans up.
export async function forEachDisk<T>(
  items: readonly T[],
  concurrency: number,
  stop: AbortController,
  worker: (item: T, signal: AbortSignal) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const runner = async () => {
    while (next < items.length && !failure) {
      const item = items[next++]!;
      try {
        await worker(item, stop.signal);
      } catch (error) {
        failure ??= { error };
        stop.abort(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, runner));
  if (failure) throw failure.error;
}
