// A bounded log of recent changes, so watches can resume from a resourceVersion and older
// resourceVersions really expire (410 Gone) like after etcd compaction.
import type { KubeObject } from './types.ts';

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface Change {
  rv: number;
  type: ChangeType;
  storageKey: string;
  object: KubeObject;
  /** The object before a MODIFIED change, to turn selector transitions into ADDED/DELETED. */
  previous?: KubeObject;
}

export class ChangeHistory {
  private readonly changes: Change[] = [];
  private head = 0;
  /** The newest resourceVersion no longer in the log; watches must start at or after it. */
  compactedRv = 0;

  constructor(private readonly limit: number) {}

  append(change: Change): void {
    this.changes.push(change);
    if (this.changes.length - this.head > this.limit) {
      this.compactedRv = (this.changes[this.head] as Change).rv;
      this.head++;
      if (this.head > this.limit) {
        this.changes.splice(0, this.head);
        this.head = 0;
      }
    }
  }

  /** Changes after `rv` for one storage key, or undefined when they have been compacted away. */
  since(rv: number, storageKey: string): Change[] | undefined {
    if (rv < this.compactedRv) return undefined;
    const out: Change[] = [];
    for (let i = this.head; i < this.changes.length; i++) {
      const c = this.changes[i] as Change;
      if (c.rv > rv && c.storageKey === storageKey) out.push(c);
    }
    return out;
  }
}
