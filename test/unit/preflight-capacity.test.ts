// The pre-power-off space check (functions/preflight/capacity.ts): ResourceQuota, Longhorn's
// schedulable space, CSIStorageCapacity, and "unknown" when nothing is published.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  bytesOf,
  capacityVerdict,
  longhornSchedulableBytes,
  type CapacityFacts,
  type StorageNeed,
} from '../../functions/preflight/capacity.ts';

const GiB = 1024 ** 3;
const longhorn = {
  name: 'harvester-longhorn',
  provisioner: 'driver.longhorn.io',
  parameters: { numberOfReplicas: '3' },
};
const csi = { name: 'fast-csi', provisioner: 'csi.example.com' };
const need = (over: Partial<StorageNeed> = {}): StorageNeed => ({
  diskBytes: [10 * GiB, 5 * GiB],
  scratchBytes: 4 * GiB,
  targetClass: longhorn,
  scratchClass: longhorn,
  ...over,
});
const facts = (over: Partial<CapacityFacts> = {}): CapacityFacts => ({
  quotas: [],
  csiCapacities: [],
  ...over,
});
const disk = (maxGiB: number, availableGiB: number, scheduledGiB: number, reservedGiB = 0) => ({
  allowScheduling: true,
  storageMaximum: maxGiB * GiB,
  storageAvailable: availableGiB * GiB,
  storageScheduled: scheduledGiB * GiB,
  storageReserved: reservedGiB * GiB,
});

test('quantities as the API server writes them', () => {
  assert.equal(bytesOf('10Gi'), 10 * GiB);
  assert.equal(bytesOf('500M'), 500e6);
  assert.equal(bytesOf('1073741824'), GiB);
  assert.equal(bytesOf('garbage'), undefined);
  assert.equal(bytesOf(undefined), undefined);
});

test('ResourceQuota on requests.storage, PVC count and the scratch class fails with quota, need and free', () => {
  const v = capacityVerdict(
    need(),
    facts({
      quotas: [
        { name: 'storage', hard: { 'requests.storage': '20Gi' }, used: { 'requests.storage': '2Gi' } },
      ],
    }),
  );
  assert.equal(v.verdict, 'noRoom');
  assert.match(
    v.verdict === 'noRoom' ? v.message : '',
    /ResourceQuota storage allows 18\.0 GiB more of requests\.storage.*needs 19\.0 GiB/,
  );
  const count = capacityVerdict(
    need(),
    facts({
      quotas: [
        { name: 'pvcs', hard: { persistentvolumeclaims: '5' }, used: { persistentvolumeclaims: '3' } },
      ],
    }),
  );
  assert.equal(count.verdict, 'noRoom');
  const perClass = capacityVerdict(
    need(),
    facts({
      quotas: [
        {
          name: 'scratch',
          hard: { 'harvester-longhorn.storageclass.storage.k8s.io/requests.storage': '3Gi' },
          used: {},
        },
      ],
      longhornNodes: [{ name: 'n1', allowScheduling: true, disks: [disk(1000, 1000, 0)] }],
    }),
  );
  assert.equal(perClass.verdict, 'noRoom');
  const roomy = capacityVerdict(
    need(),
    facts({
      quotas: [
        { name: 'storage', hard: { 'requests.storage': '100Gi' }, used: { 'requests.storage': '2Gi' } },
      ],
      longhornNodes: [{ name: 'n1', allowScheduling: true, disks: [disk(1000, 1000, 0)] }],
    }),
  );
  assert.equal(roomy.verdict, 'fits');
});

test('Longhorn: schedulable = min(over-provisioning room, actual free above the reserve) per schedulable disk', () => {
  // 100 GiB disk, 60 free, 30 scheduled: over-provisioning leaves 70, actual 60 - 25 = 35 → 35
  assert.equal(
    longhornSchedulableBytes([{ name: 'a', allowScheduling: true, disks: [disk(100, 60, 30)] }]),
    35 * GiB,
  );
  // a node or disk that does not allow scheduling counts nothing
  assert.equal(
    longhornSchedulableBytes([
      { name: 'a', allowScheduling: false, disks: [disk(100, 100, 0)] },
      { name: 'b', allowScheduling: true, disks: [{ ...disk(100, 100, 0), allowScheduling: false }] },
    ]),
    0,
  );
  assert.equal(
    longhornSchedulableBytes([{ name: 'a', allowScheduling: true, disks: [disk(100, 100, 0)] }], 200),
    75 * GiB,
  );
});

test('Longhorn: need = disks x numberOfReplicas + backing-image copy + scratch x its replicas; message names class, need, free', () => {
  // 15 GiB disks x 3 + 15 + 4 x 3 = 72 GiB
  const tight = capacityVerdict(
    need(),
    facts({ longhornNodes: [{ name: 'n', allowScheduling: true, disks: [disk(100, 90, 0)] }] }),
  );
  assert.equal(tight.verdict, 'noRoom');
  const message = tight.verdict === 'noRoom' ? tight.message : '';
  assert.match(
    message,
    /StorageClass harvester-longhorn \(Longhorn\) cannot hold the import: it needs 72\.0 GiB/,
  );
  assert.match(message, /15\.0 GiB of disks x 3 replica\(s\)/);
  assert.match(message, /the Longhorn nodes can schedule 65\.0 GiB/);
  assert.match(message, /the source was not touched/);
  const oneReplica = capacityVerdict(
    need({
      targetClass: { ...longhorn, name: 'single', parameters: { numberOfReplicas: '1' } },
      scratchClass: csi,
    }),
    facts({ longhornNodes: [{ name: 'n', allowScheduling: true, disks: [disk(100, 90, 0)] }] }),
  );
  // 15 x 1 + 15 = 30 fits in 65; the CSI scratch class publishes nothing → unknown
  assert.equal(oneReplica.verdict, 'unknown');
  assert.match(oneReplica.message, /fast-csi.*publishes no CSIStorageCapacity/);
});

test('Longhorn without published nodes.longhorn.io: capacity unknown, the import goes on', () => {
  const v = capacityVerdict(need(), facts());
  assert.equal(v.verdict, 'unknown');
  assert.match(v.message, /no nodes\.longhorn\.io are published/);
});

test('a third-party class: CSIStorageCapacity where published, else unknown', () => {
  const published = (capacity: string, maximumVolumeSize?: string) =>
    facts({
      csiCapacities: [
        { storageClassName: 'fast-csi', capacity, ...(maximumVolumeSize ? { maximumVolumeSize } : {}) },
        { storageClassName: 'other', capacity: '1Ti' },
      ],
    });
  const target = need({ targetClass: csi, scratchClass: csi });
  assert.equal(capacityVerdict(target, published('100Gi')).verdict, 'fits');
  const small = capacityVerdict(target, published('12Gi'));
  assert.equal(small.verdict, 'noRoom');
  assert.match(
    small.verdict === 'noRoom' ? small.message : '',
    /StorageClass fast-csi \(csi\.example\.com\) cannot hold the disks: it needs 15\.0 GiB.*12\.0 GiB free/,
  );
  assert.equal(
    capacityVerdict(target, published('100Gi', '8Gi')).verdict,
    'noRoom',
    'a 10 GiB disk exceeds maximumVolumeSize',
  );
  assert.equal(capacityVerdict(target, facts()).verdict, 'unknown');
});
