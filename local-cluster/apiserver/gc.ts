// Garbage collection as the kube-controller-manager does it, run asynchronously after writes:
// dependents whose owners are all gone are deleted, foreground/orphan finalizers are processed,
// and terminating namespaces are emptied and then removed.
import { ApiError } from './errors.ts';
import type { ObjectStore } from './store.ts';
import type { KubeObject, ResourceInfo } from './types.ts';

const FOREGROUND = 'foregroundDeletion';
const ORPHAN = 'orphan';

function ignoreGone(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    // the object changed or vanished meanwhile; a later event handles it
    if (!(err instanceof ApiError) || (err.code !== 404 && err.code !== 409)) throw err;
  }
}

export class GarbageCollector {
  private readonly queue: (() => void)[] = [];
  private scheduled = false;
  private waiters: (() => void)[] = [];

  constructor(private readonly store: ObjectStore) {}

  idle(): Promise<void> {
    if (!this.scheduled && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  objectRemoved(removed: KubeObject): void {
    this.enqueue(() => {
      const uid = removed.metadata.uid as string;
      for (const { info, obj } of this.dependentsOf(uid)) {
        const owners = obj.metadata.ownerReferences ?? [];
        if (owners.every((o) => !this.store.existsUid(o.uid))) {
          ignoreGone(() =>
            this.store.delete(info, obj.metadata.namespace, obj.metadata.name as string, {
              propagationPolicy: 'Background',
            }),
          );
        }
      }
      for (const ref of removed.metadata.ownerReferences ?? []) this.finishForegroundIfDone(ref.uid);
      const ns = removed.metadata.namespace;
      if (ns) this.removeNamespaceIfEmpty(ns);
    });
  }

  orphanDependents(info: ResourceInfo, owner: KubeObject): void {
    this.enqueue(() => {
      const uid = owner.metadata.uid as string;
      for (const dep of this.dependentsOf(uid)) {
        ignoreGone(() => {
          const fresh = this.store.get(dep.info, dep.obj.metadata.namespace, dep.obj.metadata.name as string);
          fresh.metadata.ownerReferences = (fresh.metadata.ownerReferences ?? []).filter(
            (r) => r.uid !== uid,
          );
          if (fresh.metadata.ownerReferences.length === 0) delete fresh.metadata.ownerReferences;
          this.store.update(dep.info, fresh);
        });
      }
      this.removeFinalizer(info, owner, ORPHAN);
    });
  }

  deleteDependentsInForeground(info: ResourceInfo, owner: KubeObject): void {
    this.enqueue(() => {
      const dependents = [...this.dependentsOf(owner.metadata.uid as string)];
      if (dependents.length === 0) {
        this.removeFinalizer(info, owner, FOREGROUND);
        return;
      }
      for (const dep of dependents) {
        ignoreGone(() =>
          this.store.delete(dep.info, dep.obj.metadata.namespace, dep.obj.metadata.name as string, {
            propagationPolicy: 'Foreground',
          }),
        );
      }
    });
  }

  finalizeNamespace(name: string): void {
    this.enqueue(() => {
      for (const { info, obj } of [...this.store.entries(name)]) {
        if (!info.namespaced || obj.metadata.deletionTimestamp) continue;
        ignoreGone(() =>
          this.store.delete(info, name, obj.metadata.name as string, { propagationPolicy: 'Background' }),
        );
      }
      this.removeNamespaceIfEmpty(name);
    });
  }

  private removeNamespaceIfEmpty(name: string): void {
    ignoreGone(() => {
      const ns = this.store.get({ apiVersion: 'v1', kind: 'Namespace' }, undefined, name);
      if (!ns.metadata.deletionTimestamp) return;
      for (const { info } of this.store.entries(name)) if (info.namespaced) return;
      ns['spec'] = { ...(ns['spec'] as object), finalizers: [] };
      this.store.update({ apiVersion: 'v1', kind: 'Namespace' }, ns);
    });
  }

  private finishForegroundIfDone(ownerUid: string): void {
    for (const { info, obj } of this.store.entries()) {
      if (obj.metadata.uid !== ownerUid) continue;
      if (!obj.metadata.deletionTimestamp || !(obj.metadata.finalizers ?? []).includes(FOREGROUND)) return;
      if ([...this.dependentsOf(ownerUid)].length === 0) this.removeFinalizer(info, obj, FOREGROUND);
      return;
    }
  }

  private removeFinalizer(info: ResourceInfo, obj: KubeObject, finalizer: string): void {
    ignoreGone(() => {
      const fresh = this.store.get(info, obj.metadata.namespace, obj.metadata.name as string);
      if (fresh.metadata.uid !== obj.metadata.uid) return;
      fresh.metadata.finalizers = (fresh.metadata.finalizers ?? []).filter((f) => f !== finalizer);
      this.store.update(info, fresh);
    });
  }

  private *dependentsOf(uid: string): Generator<{ info: ResourceInfo; obj: KubeObject }> {
    for (const entry of [...this.store.entries()]) {
      if ((entry.obj.metadata.ownerReferences ?? []).some((r) => r.uid === uid)) yield entry;
    }
  }

  private enqueue(task: () => void): void {
    this.queue.push(task);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.drain());
  }

  private drain(): void {
    while (this.queue.length > 0) {
      const task = this.queue.shift() as () => void;
      try {
        task();
      } catch (err) {
        console.error('apiserver: garbage collection step failed:', err);
      }
    }
    this.scheduled = false;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
