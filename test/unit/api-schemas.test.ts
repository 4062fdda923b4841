import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ImportStatus,
  KINDS,
  VirtualMachineImport,
  sourceKindOf,
  uploadImageRetryOptions,
  ovaHttpTimeoutMs,
} from '../../functions/shared/api/index.ts';
import { crdFor } from '../../config/generators/crds.ts';

const importDoc = (spec: Record<string, unknown>) => ({
  apiVersion: 'migration.harvesterhci.io/v1beta1',
  kind: 'VirtualMachineImport',
  metadata: { name: 'x', namespace: 'default' },
  spec,
});

test('a wrong-typed field is rejected naming the field', () => {
  const r = VirtualMachineImport.safeParse(importDoc({ gracefulShutdownTimeoutSeconds: 'abc' }));
  assert.equal(r.success, false);
  assert.deepEqual(r.error?.issues[0]?.path, ['spec', 'gracefulShutdownTimeoutSeconds']);
});

test('enums keep upstream spellings and accept the empty string', () => {
  assert.ok(VirtualMachineImport.safeParse(importDoc({ defaultNetworkInterfaceModel: '' })).success);
  assert.ok(VirtualMachineImport.safeParse(importDoc({ defaultDiskBusType: 'sata' })).success);
  assert.equal(VirtualMachineImport.safeParse(importDoc({ defaultDiskBusType: 'ide' })).success, false);
  assert.equal(ImportStatus.DiskImagesSubmitted, 'diskImageSubmitted');
  assert.equal(ImportStatus.Failed, 'VMMigrationFailed');
});

test('targetName must be an RFC 1123 label', () => {
  assert.ok(VirtualMachineImport.safeParse(importDoc({ targetName: 'web-01' })).success);
  assert.equal(VirtualMachineImport.safeParse(importDoc({ targetName: 'Web_01' })).success, false);
  assert.equal(VirtualMachineImport.safeParse(importDoc({ targetName: 'a'.repeat(64) })).success, false);
});

test('source kind is matched case-insensitively as upstream does', () => {
  assert.equal(sourceKindOf('vmwaresource'), 'VmwareSource');
  assert.equal(sourceKindOf('OpenStackSource'), 'OpenstackSource');
  assert.equal(sourceKindOf('VmwareSrc'), undefined);
});

test('code defaults follow upstream', () => {
  assert.deepEqual(uploadImageRetryOptions({ uploadImageRetryCount: 0 }), { count: 30, delaySeconds: 10 });
  assert.deepEqual(uploadImageRetryOptions({ uploadImageRetryCount: 3, uploadImageRetryDelay: 2 }), {
    count: 3,
    delaySeconds: 2,
  });
  assert.equal(ovaHttpTimeoutMs({}), 600_000);
  assert.equal(ovaHttpTimeoutMs({ httpTimeoutSeconds: 0 }), 0);
});

/** Walks a structural schema; calls visit(path, node) for every node. */
function walk(
  node: Record<string, unknown>,
  path: string,
  visit: (p: string, n: Record<string, unknown>) => void,
) {
  visit(path, node);
  for (const [k, v] of Object.entries((node.properties as Record<string, Record<string, unknown>>) ?? {}))
    walk(v, `${path}.${k}`, visit);
  if (node.items) walk(node.items as Record<string, unknown>, `${path}[]`, visit);
}

test('generated CRD schemas are structural and every field is documented', () => {
  for (const info of Object.values(KINDS)) {
    const crd = crdFor(info) as any;
    const version = crd.spec.versions[0];
    const root = version.schema.openAPIV3Schema;
    walk(root.properties.spec, 'spec', (p, n) => {
      assert.ok(typeof n.type === 'string', `${info.kind} ${p} has a type`);
      assert.ok(
        typeof n.description === 'string' && n.description.length > 3,
        `${info.kind} ${p} is documented`,
      );
      assert.ok(!('additionalProperties' in n && 'properties' in n), `${info.kind} ${p} is structural`);
      assert.ok(!('anyOf' in n) && !('oneOf' in n), `${info.kind} ${p} has no unions`);
    });
    walk(root.properties.status, 'status', (p, n) => {
      assert.ok(typeof n.type === 'string', `${info.kind} ${p} has a type`);
      if (p !== 'status') assert.ok(typeof n.description === 'string', `${info.kind} ${p} is documented`);
    });
    assert.deepEqual(version.subresources, { status: {} });
    const columns = version.additionalPrinterColumns.map((c: { name: string }) => c.name.toUpperCase());
    assert.deepEqual(
      columns,
      info.kind === 'VirtualMachineImport'
        ? ['STATUS', 'PROGRESS', 'SOURCE', 'VM', 'AGE']
        : ['STATUS', 'AGE'],
    );
  }
});
