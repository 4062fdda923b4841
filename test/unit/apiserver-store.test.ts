// The in-process ObjectStore (no HTTP): watch ordering, history expiry, finalizers, status rules.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from '../../local-cluster/apiserver/registry.ts';
import { ObjectStore } from '../../local-cluster/apiserver/store.ts';
import type { KubeObject } from '../../local-cluster/apiserver/types.ts';

const CM = { apiVersion: 'v1', kind: 'ConfigMap' };

function newStore(historyLimit = 1000): ObjectStore {
  const store = new ObjectStore(new Registry(), { historyLimit });
  store.create(
    { apiVersion: 'v1', kind: 'Namespace' },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } },
  );
  return store;
}

function cm(name: string, extra: Partial<KubeObject['metadata']> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default', ...extra } };
}

describe('ObjectStore', () => {
  it('delivers changes in resourceVersion order even when a watcher writes from its callback', () => {
    const store = newStore();
    const seenByB: string[] = [];
    store.watch(CM, { namespace: 'default', resourceVersion: store.currentResourceVersion() }, (ev) => {
      if (ev.object.metadata.name === 'first') store.create(CM, cm('second'));
    });
    store.watch(CM, { namespace: 'default', resourceVersion: store.currentResourceVersion() }, (ev) =>
      seenByB.push(`${ev.type} ${ev.object.metadata.name} ${ev.object.metadata.resourceVersion}`),
    );
    store.create(CM, cm('first'));
    assert.deepEqual(
      seenByB.map((s) => s.split(' ').slice(0, 2).join(' ')),
      ['ADDED first', 'ADDED second'],
    );
    const rvs = seenByB.map((s) => Number(s.split(' ')[2]));
    assert.ok((rvs[0] as number) < (rvs[1] as number));
  });

  it('resumes watches from history and expires resourceVersions beyond it', () => {
    const store = newStore(5);
    const start = store.currentResourceVersion();
    store.create(CM, cm('a'));
    const afterA = store.currentResourceVersion();
    store.create(CM, cm('b'));
    const resumed: string[] = [];
    store
      .watch(CM, { namespace: 'default', resourceVersion: afterA }, (ev) =>
        resumed.push(`${ev.type} ${ev.object.metadata.name}`),
      )
      .stop();
    assert.deepEqual(resumed, ['ADDED b']);
    for (let i = 0; i < 10; i++) store.create(CM, cm(`n${i}`));
    assert.throws(
      () => store.watch(CM, { resourceVersion: start }, () => {}),
      (err: { code?: number; reason?: string }) => err.code === 410 && err.reason === 'Expired',
    );
  });

  it('turns label changes into ADDED/DELETED for selector watches', () => {
    const store = newStore();
    store.create(CM, cm('x', { labels: { app: 'a' } }));
    const events: string[] = [];
    const w = store.watch(
      CM,
      { namespace: 'default', labelSelector: 'app=b', resourceVersion: store.currentResourceVersion() },
      (ev) => events.push(ev.type),
    );
    store.patch(CM, 'default', 'x', 'merge', { metadata: { labels: { app: 'b' } } });
    store.patch(CM, 'default', 'x', 'merge', { data: { k: 'v' } });
    store.patch(CM, 'default', 'x', 'merge', { metadata: { labels: { app: 'c' } } });
    w.stop();
    assert.deepEqual(events, ['ADDED', 'MODIFIED', 'DELETED']);
  });

  it('keeps finalized objects until the last finalizer goes and refuses new finalizers meanwhile', () => {
    const store = newStore();
    store.create(CM, cm('held', { finalizers: ['a', 'b'] }));
    const pending = store.delete(CM, 'default', 'held');
    assert.ok(pending.metadata.deletionTimestamp);
    assert.throws(
      () => store.patch(CM, 'default', 'held', 'merge', { metadata: { finalizers: ['a', 'b', 'c'] } }),
      (err: { code?: number }) => err.code === 422,
    );
    store.patch(CM, 'default', 'held', 'merge', { metadata: { finalizers: ['b'] } });
    assert.ok(store.get(CM, 'default', 'held'));
    store.patch(CM, 'default', 'held', 'json', [{ op: 'remove', path: '/metadata/finalizers' }]);
    assert.throws(
      () => store.get(CM, 'default', 'held'),
      (err: { code?: number }) => err.code === 404,
    );
  });

  it('does not bump resourceVersion for a no-op update and rejects stale writes', () => {
    const store = newStore();
    const created = store.create(CM, { ...cm('same'), data: { a: '1' } } as KubeObject);
    const again = store.update(CM, created);
    assert.equal(again.metadata.resourceVersion, created.metadata.resourceVersion);
    store.update(CM, { ...created, data: { a: '2' } } as KubeObject);
    assert.throws(
      () => store.update(CM, { ...created, data: { a: '3' } } as KubeObject),
      (err: { code?: number; reason?: string }) => err.code === 409 && err.reason === 'Conflict',
    );
  });
});
