import { test } from 'node:test';
import assert from 'node:assert/strict';
import { admitted, isAdmitted, waitsForExport, importSourceLabel } from '../../functions/export/queue.ts';
import { VirtualMachineImport } from '../../functions/shared/api/index.ts';

const q = (name: string, creationTimestamp: string, namespace = 'default') => ({
  namespace,
  name,
  creationTimestamp,
});

test('admits the oldest waiting imports up to the free slots, ties by namespace/name', () => {
  const waiting = [
    q('c', '2026-12-03T10:00:02Z'),
    q('b', '2026-12-03T10:00:01Z', 'team-b'),
    q('a', '2026-12-03T10:00:01Z', 'team-b'),
    q('z', '2026-12-03T10:00:01Z', 'default'),
  ];
  assert.deepEqual(
    admitted(waiting, 1, 4).map((i) => `${i.namespace}/${i.name}`),
    ['default/z', 'team-b/a', 'team-b/b'],
  );
  assert.deepEqual(admitted(waiting, 4, 4), []);
  assert.deepEqual(admitted(waiting, 6, 4), [], 'more running than the cap (setting lowered) admits none');
  // Every caller computes the same answer whatever order its list came in.
  assert.deepEqual(admitted([...waiting].reverse(), 2, 4), admitted(waiting, 2, 4));
  assert.equal(isAdmitted(waiting, 3, 4, q('z', '2026-12-03T10:00:01Z')), true);
  assert.equal(isAdmitted(waiting, 3, 4, q('a', '2026-12-03T10:00:01Z', 'team-b')), false);
});

const vmImport = (status: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  VirtualMachineImport.parse({
    apiVersion: 'migration.harvesterhci.io/v1beta1',
    kind: 'VirtualMachineImport',
    metadata: { name: 'x', namespace: 'team-a', ...extra },
    spec: {
      virtualMachineName: 'vm',
      sourceCluster: { name: 'vc', kind: 'VmwareSource', apiVersion: 'migration.harvesterhci.io/v1beta1' },
    },
    status,
  });

test('only sourceReady imports whose export has not started or ended wait for a slot', () => {
  assert.equal(waitsForExport(vmImport({ importStatus: 'sourceReady' })), true);
  assert.equal(waitsForExport(vmImport({ importStatus: 'virtualMachineImportValid' })), false);
  assert.equal(waitsForExport(vmImport({ importStatus: 'disksExported' })), false);
  assert.equal(
    waitsForExport(vmImport({ importStatus: 'sourceReady' }, { deletionTimestamp: '2026-12-03T10:00:00Z' })),
    false,
  );
  const done = (type: string) => ({
    importStatus: 'sourceReady',
    importConditions: [{ type, status: 'True', reason: 'r', message: 'm' }],
  });
  assert.equal(waitsForExport(vmImport(done('VMExported'))), false);
  assert.equal(waitsForExport(vmImport(done('VMExportFailed'))), false);
});

test("an import's source defaults to the import's namespace, as its Job label does", () => {
  assert.equal(importSourceLabel(vmImport({})), 'vmwaresource.team-a.vc');
});
