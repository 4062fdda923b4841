// What a claim gets from its class in the local cluster's provisioner
// (local-cluster/runtime/storage/provision-rules.ts): external-provisioner's claim selection and
// clone checks, Longhorn's and Ceph RBD's CreateVolume refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  LOCAL_CLUSTER_STORAGE_CLASSES,
  type StorageClass,
} from '../../local-cluster/runtime/storage/classes.ts';
import {
  checkCloneSource,
  createVolumeRefusal,
  provisioningFailedMessage,
  quantityBytes,
  takesClaim,
  type ClaimFacts,
} from '../../local-cluster/runtime/storage/provision-rules.ts';

const GiB = 1024 ** 3;
const cls = (name: string) => LOCAL_CLUSTER_STORAGE_CLASSES.find((c) => c.metadata?.name === name)!;

const claim = (over: Partial<ClaimFacts> = {}): ClaimFacts => ({
  name: 'c',
  namespace: 'ns',
  storageClassName: 'harvester-longhorn',
  annotations: { 'volume.kubernetes.io/storage-provisioner': 'driver.longhorn.io' },
  accessModes: ['ReadWriteOnce'],
  volumeMode: 'Filesystem',
  requestBytes: GiB,
  bound: false,
  deleting: false,
  ...over,
});

test('quantities: binary and decimal suffixes; nonsense is undefined', () => {
  assert.equal(quantityBytes('10Gi'), 10 * GiB);
  assert.equal(quantityBytes('1500M'), 1.5e9);
  assert.equal(quantityBytes('lots'), undefined);
  assert.equal(quantityBytes(undefined), undefined);
});

test("a claim is taken when the PV controller named this class's driver; WaitForFirstConsumer waits for a node", () => {
  const hl = cls('harvester-longhorn');
  assert.equal(takesClaim(claim(), hl), true);
  assert.equal(takesClaim(claim({ annotations: {} }), hl), false, 'not handed to a provisioner yet');
  assert.equal(
    takesClaim(
      claim({ annotations: { 'volume.kubernetes.io/storage-provisioner': 'rook-ceph.rbd.csi.ceph.com' } }),
      hl,
    ),
    false,
    'another driver',
  );
  assert.equal(takesClaim(claim(), undefined), false, 'no class');
  const wffc: StorageClass = { ...hl, volumeBindingMode: 'WaitForFirstConsumer' };
  assert.equal(takesClaim(claim(), wffc), false);
  assert.equal(
    takesClaim(
      claim({
        annotations: {
          'volume.kubernetes.io/storage-provisioner': 'driver.longhorn.io',
          'volume.kubernetes.io/selected-node': 'n1',
        },
      }),
      wffc,
    ),
    true,
  );
  // The beta annotation still names the driver (external-provisioner reads both).
  assert.equal(
    takesClaim(
      claim({ annotations: { 'volume.beta.kubernetes.io/storage-provisioner': 'driver.longhorn.io' } }),
      hl,
    ),
    true,
  );
});

test("clone checks in getPVCSource's order and words", () => {
  const target = claim({ dataSource: { kind: 'PersistentVolumeClaim', name: 'src' }, volumeMode: 'Block' });
  const source = claim({ name: 'src', bound: true, volumeName: 'pv-src', volumeMode: 'Block' });
  const volume = { volumeMode: 'Block' as const, csiVolumeHandle: 'pv-src' };
  assert.equal(checkCloneSource(target, { claim: source, volume }), undefined);
  const msg = (facts: Parameters<typeof checkCloneSource>[1], t = target) =>
    checkCloneSource(t, facts)?.message ?? '';
  assert.match(
    msg({}),
    /^error getting handle for DataSource Type PersistentVolumeClaim by Name src: .*not found/,
  );
  assert.match(msg({ claim: { ...source, bound: false }, volume }), /must have a status of Bound/);
  assert.match(msg({ claim: { ...source, deleting: true }, volume }), /is currently being deleted/);
  assert.match(
    msg({ claim: { ...source, storageClassName: 'longhorn-v2' }, volume }),
    /must be in the same storage class for cloning\.  Source is in longhorn-v2, but new PVC is in harvester-longhorn/,
  );
  assert.match(
    msg({ claim: { ...source, requestBytes: 2 * GiB }, volume }),
    /new PVC request must be greater than or equal in size.*requested 1073741824 but source is 2147483648/,
  );
  assert.match(
    msg({ claim: source, volume: { ...volume, volumeMode: 'Filesystem' } }),
    /must have the same volume mode for cloning\.  Source is Filesystem, but new PVC requested Block/,
  );
});

test('Longhorn: a clone is exactly the source size; a backing-image volume holds the whole image', () => {
  const base = {
    driver: 'driver.longhorn.io',
    parameters: cls('longhorn-v2').parameters!,
    accessModes: ['ReadWriteMany'],
    volumeMode: 'Block' as const,
    requestBytes: 2 * GiB,
  };
  assert.equal(createVolumeRefusal(base), undefined);
  assert.equal(
    createVolumeRefusal({ ...base, clone: { sourceBytes: 2 * GiB, volumeHandle: 'v' } }),
    undefined,
  );
  assert.equal(
    createVolumeRefusal({ ...base, clone: { sourceBytes: GiB, volumeHandle: 'v' } })?.message,
    'rpc error: code = OutOfRange desc = failed to clone volume: the requested size (2147483648 bytes) is different than the source volume size (1073741824 bytes)',
  );
  assert.equal(
    createVolumeRefusal({ ...base, backingImageVirtualBytes: 3 * GiB })?.message,
    'rpc error: code = Internal desc = volume size should be larger than the backing image size',
  );
  assert.equal(createVolumeRefusal({ ...base, backingImageVirtualBytes: 2 * GiB }), undefined);
});

test('Ceph RBD: ReadWriteMany and ReadOnlyMany only on Block volumes', () => {
  const base = {
    driver: 'rook-ceph.rbd.csi.ceph.com',
    parameters: cls('rook-ceph-block').parameters!,
    volumeMode: 'Filesystem' as const,
    requestBytes: GiB,
  };
  assert.equal(createVolumeRefusal({ ...base, accessModes: ['ReadWriteOnce'] }), undefined);
  for (const mode of ['ReadWriteMany', 'ReadOnlyMany'])
    assert.match(
      createVolumeRefusal({ ...base, accessModes: [mode] })?.message ?? '',
      /InvalidArgument desc = multi node access modes are only supported on rbd `block` type volumes/,
    );
  assert.equal(
    createVolumeRefusal({ ...base, accessModes: ['ReadWriteMany'], volumeMode: 'Block' }),
    undefined,
  );
  assert.equal(
    provisioningFailedMessage('rook-ceph-block', { message: 'rpc error: code = X desc = y' }),
    'failed to provision volume with StorageClass "rook-ceph-block": rpc error: code = X desc = y',
  );
});
