// A work queue with client-go's semantics: reconciles of one key run one at a time, a key added
// while it waits runs once (adds coalesce), different keys run concurrently. Controllers that
// re-evaluate many objects on one event (a PVC change requeues every VM) stay linear in objects.
export class KeyedQueue {
  private readonly running = new Map<string, Promise<void>>();
  private readonly pending = new Set<string>();
  private stopped = false;

  constructor(
    private readonly reconcile: (key: string) => Promise<void>,
    /** Called with the error of a failed reconcile (e.g. to log it and add the key again later). */
    private readonly onError: (key: string, err: unknown) => void,
  ) {}

  add(key: string): void {
    if (this.stopped || this.pending.has(key)) return;
    this.pending.add(key);
    const next = (this.running.get(key) ?? Promise.resolve())
      .then(async () => {
        this.pending.delete(key);
        if (!this.stopped) await this.reconcile(key);
      })
      .catch((err: unknown) => this.onError(key, err))
      .finally(() => {
        if (this.running.get(key) === next) this.running.delete(key);
      });
    this.running.set(key, next);
  }

  stop(): void {
    this.stopped = true;
  }
}
