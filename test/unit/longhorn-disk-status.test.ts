// Longhorn's disk status as the local cluster's Longhorn stand-in writes it
// (local-cluster/runtime/storage/longhorn-disk-status.ts): scheduled space from the replicas, and
// the Schedulable condition from the scheduler's two conditions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  diskStatus,
  unschedulableBecause,
  type DiskFacts,
} from '../../local-cluster/runtime/storage/longhorn-disk-status.ts';

const GiB = 1024 ** 3;
const disk = (over: Partial<DiskFacts> = {}): DiskFacts => ({
  name: 'default-disk',
  path: '/data',
  nodeName: 'n1',
  uuid: 'u1',
  storageMaximum: 100 * GiB,
  storageAvailable: 90 * GiB,
  storageReserved: 30 * GiB,
  replicas: { 'pvc-a-r-0': 10 * GiB, 'pvc-b-r-0': 5 * GiB },
  ...over,
});

test('storageScheduled is the sum of the replicas on the disk; a disk with room is Schedulable', () => {
  const s = diskStatus(disk());
  assert.equal(s.storageScheduled, 15 * GiB);
  assert.deepEqual(s.scheduledReplica, { 'pvc-a-r-0': 10 * GiB, 'pvc-b-r-0': 5 * GiB });
  assert.equal(s.storageMaximum, 100 * GiB);
  assert.equal(s.storageAvailable, 90 * GiB);
  assert.deepEqual(
    s.conditions.map((c) => [c.type, c.status]),
    [
      ['Ready', 'True'],
      ['Schedulable', 'True'],
    ],
  );
});

test('not schedulable at or below the minimal available 25 %, nor beyond the over-provisioning limit', () => {
  assert.match(
    unschedulableBecause(disk({ storageAvailable: 25 * GiB })) ?? '',
    /^Actual space usage condition failed: CurrentAvailable = 26843545600 .* MinimalAvailable = 26843545600 \(25% of Storage Max\)/,
  );
  assert.equal(unschedulableBecause(disk({ storageAvailable: 25 * GiB + 1 })), undefined);
  // (100 - 30) GiB x 100 % = 70 GiB may be scheduled.
  assert.equal(unschedulableBecause(disk({ replicas: { a: 70 * GiB } })), undefined);
  assert.match(
    unschedulableBecause(disk({ replicas: { a: 70 * GiB + 1 } })) ?? '',
    /^Scheduling space condition failed: ScheduledTotal = 75161927681 .* ProvisionedLimit = 75161927680/,
  );
  const s = diskStatus(disk({ replicas: { a: 80 * GiB } }));
  const schedulable = s.conditions.find((c) => c.type === 'Schedulable')!;
  assert.equal(schedulable.status, 'False');
  assert.equal(schedulable.reason, 'DiskPressure');
  assert.match(
    schedulable.message,
    /^Disk default-disk \(\/data\) on the node n1 is not schedulable for more replica; /,
  );
});
