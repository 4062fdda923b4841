// Harvester's admission rules of the webhook stand-in, per Harvester release.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  mutateImageCreate,
  validateImageCreate,
  validateImageDelete,
  validateVmMacs,
} from '../../local-cluster/runtime/harvester/admission-rules.ts';
import { harvesterBehaviour } from '../../local-cluster/runtime/harvester/versions.ts';

const classes = [
  {
    metadata: {
      name: 'harvester-longhorn',
      annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' },
    },
    provisioner: 'driver.longhorn.io',
  },
  { metadata: { name: 'lvm' }, provisioner: 'lvm.driver.harvesterhci.io' },
];
const image = (extra: { annotations?: Record<string, string>; backend?: string } = {}) => ({
  metadata: {
    name: 'image-x',
    namespace: 'ns',
    uid: 'new',
    ...(extra.annotations ? { annotations: extra.annotations } : {}),
  },
  spec: {
    displayName: 'disk-0',
    sourceType: 'download',
    url: 'http://x/y',
    ...(extra.backend ? { backend: extra.backend } : {}),
  },
});

test('versions: what changes between the supported releases', () => {
  assert.deepEqual(
    ['v1.2.2', 'v1.3.2', 'v1.4.3', 'v1.5.0', 'v1.5.1', 'v1.6.0'].map((v) => {
      const b = harvesterBehaviour(v);
      return [b.imageVirtualSize, b.imageBackend, b.rejectsNonLonghornBackingImageClass, b.duplicateMacCheck];
    }),
    [
      [false, false, true, false],
      [false, false, true, false],
      [true, false, true, false],
      [true, true, true, true],
      [true, true, false, true],
      [true, true, false, true],
    ],
  );
  assert.throws(() => harvesterBehaviour('v1.1.3'), /not one vm-import supports/);
});

test('image create: display-name label, backend default and target class (≥ 1.5); a backing image on a non-Longhorn class is refused up to 1.5.0', () => {
  const v16 = mutateImageCreate(image(), classes, harvesterBehaviour('v1.6.0'));
  assert.ok('patch' in v16);
  assert.deepEqual(
    v16.patch
      .map((p) => [p.path, 'value' in p ? p.value : undefined])
      .filter(([p]) => p !== '/metadata/labels' && p !== '/metadata/annotations'),
    [
      ['/metadata/labels/harvesterhci.io~1imageDisplayName', 'disk-0'],
      ['/spec/backend', 'backingimage'],
      [
        '/spec/storageClassParameters',
        { numberOfReplicas: '3', staleReplicaTimeout: '30', migratable: 'true' },
      ],
      ['/metadata/annotations/harvesterhci.io~1storageClassName', 'harvester-longhorn'],
      ['/spec/targetStorageClassName', 'harvester-longhorn'],
    ],
  );
  const onLvm = image({ annotations: { 'harvesterhci.io/storageClassName': 'lvm' } });
  for (const v of ['v1.3.0', 'v1.4.0', 'v1.5.0']) {
    const out = mutateImageCreate(onLvm, classes, harvesterBehaviour(v));
    assert.ok(
      'denied' in out && /provisioner of storageClass must be driver.longhorn.io/.test(out.denied.message),
      v,
    );
  }
  assert.ok('patch' in mutateImageCreate(onLvm, classes, harvesterBehaviour('v1.5.1')));
  assert.ok(
    'patch' in
      mutateImageCreate(
        { ...onLvm, spec: { ...onLvm.spec, backend: 'cdi' } },
        classes,
        harvesterBehaviour('v1.5.0'),
      ),
  );
});

test('image create before 1.5: spec.backend and spec.targetStorageClassName are pruned (the CRD has no such fields), so the image is a backing image', () => {
  const cdi = image({ annotations: { 'harvesterhci.io/storageClassName': 'harvester-longhorn' } });
  const withBackend = {
    ...cdi,
    spec: { ...cdi.spec, backend: 'cdi', targetStorageClassName: 'longhorn-v2' },
  };
  const old = mutateImageCreate(withBackend, classes, harvesterBehaviour('v1.2.0'));
  assert.ok('patch' in old);
  assert.deepEqual(
    old.patch.filter((p) => p.op === 'remove').map((p) => p.path),
    ['/spec/backend', '/spec/targetStorageClassName'],
  );
  const current = mutateImageCreate(withBackend, classes, harvesterBehaviour('v1.5.0'));
  assert.ok('patch' in current);
  assert.ok(!current.patch.some((p) => p.op === 'remove'));
});

test('image create: a display name another image of the namespace carries is a 409, even while that image is being deleted', () => {
  const old = {
    metadata: {
      name: 'image-old',
      namespace: 'ns',
      uid: 'old',
      deletionTimestamp: '2026-01-01T00:00:00Z',
      labels: { 'harvesterhci.io/imageDisplayName': 'disk-0' },
    },
  };
  assert.equal(validateImageCreate(image(), [old])?.code, 409);
  assert.equal(validateImageCreate(image(), []), undefined);
  assert.equal(
    validateImageCreate({ ...image(), spec: { ...image().spec, displayName: 'x'.repeat(64) } }, [])?.code,
    422,
  );
});

test('image delete: refused (422) while any volume — terminating too — uses its StorageClass; cdi images are not checked', () => {
  const imported = { ...image(), status: { storageClassName: 'longhorn-image-x' } };
  const claim = {
    metadata: { name: 'vm-disk-0', namespace: 'other', deletionTimestamp: 'now' },
    spec: { storageClassName: 'longhorn-image-x' },
  };
  const denied = validateImageDelete(imported, [claim], harvesterBehaviour('v1.6.0'));
  assert.equal(denied?.code, 422);
  assert.match(denied!.message, /being used by volume other\/vm-disk-0/);
  assert.equal(validateImageDelete(imported, [], harvesterBehaviour('v1.6.0')), undefined);
  assert.equal(
    validateImageDelete(
      { ...imported, spec: { ...imported.spec, backend: 'cdi' } },
      [claim],
      harvesterBehaviour('v1.6.0'),
    ),
    undefined,
  );
});

test('VM create: a MAC another VM uses on the same cluster network is refused from 1.5 on', () => {
  const vm = (ns: string, name: string, mac: string) => ({
    metadata: { namespace: ns, name },
    spec: {
      template: {
        spec: {
          domain: { devices: { interfaces: [{ name: 'nic-0', macAddress: mac }] } },
          networks: [{ name: 'nic-0', multus: { networkName: 'default/vlan1' } }],
        },
      },
    },
  });
  const nads = [
    {
      metadata: {
        namespace: 'default',
        name: 'vlan1',
        labels: { 'network.harvesterhci.io/clusternetwork': 'mgmt' },
      },
    },
  ];
  const existing = [vm('a', 'first', '00:50:56:00:00:01')];
  const second = vm('b', 'second', '00:50:56:00:00:01');
  assert.match(
    validateVmMacs(second, existing, nads, harvesterBehaviour('v1.5.0'))?.message ?? '',
    /duplicate mac address present for vm second for cluster network mgmt/,
  );
  assert.equal(validateVmMacs(second, existing, nads, harvesterBehaviour('v1.4.3')), undefined);
  assert.equal(
    validateVmMacs(existing[0]!, existing, nads, harvesterBehaviour('v1.6.0')),
    undefined,
    'the VM itself (update)',
  );
});
