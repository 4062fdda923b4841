// The CDI stand-in's pure rules (local-cluster/runtime/cdi/datavolume-rules.ts) and Harvester's
// cdi backend helpers (local-cluster/runtime/harvester/cdi-backend.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  claimPropertySet,
  dataVolumeStatus,
  importerPod,
  progressFromMetrics,
  targetClaim,
  type DataVolume,
} from '../../../local-cluster/runtime/cdi/datavolume-rules.ts';
import { dataVolumeProgress, imageDataVolume } from '../../../local-cluster/runtime/harvester/cdi-backend.ts';
import { LOCAL_CLUSTER_STORAGE_CLASSES } from '../../../local-cluster/runtime/storage/classes.ts';

const MiB = 1024 * 1024;
const cls = (name: string) => LOCAL_CLUSTER_STORAGE_CLASSES.find((c) => c.metadata!.name === name)!;
const dv = (storage: NonNullable<DataVolume['spec']>['storage']): DataVolume => ({
  apiVersion: 'cdi.kubevirt.io/v1beta1',
  kind: 'DataVolume',
  metadata: { name: 'd', namespace: 'ns', uid: 'uid-1' },
  spec: { source: { http: { url: 'http://x/disk' } }, storage },
});

test('StorageProfile per class: Longhorn migratable and Ceph RBD are ReadWriteMany Block, Longhorn with fsType Filesystem, unknown drivers none', () => {
  assert.deepEqual(claimPropertySet(cls('longhorn-v2')), {
    accessMode: 'ReadWriteMany',
    volumeMode: 'Block',
  });
  assert.deepEqual(claimPropertySet(cls('rook-ceph-block')), {
    accessMode: 'ReadWriteMany',
    volumeMode: 'Block',
  });
  assert.deepEqual(claimPropertySet({ provisioner: 'driver.longhorn.io', parameters: { fsType: 'ext4' } }), {
    accessMode: 'ReadWriteOnce',
    volumeMode: 'Filesystem',
  });
  assert.equal(claimPropertySet({ provisioner: 'lvm.driver.harvesterhci.io' }), undefined);
});

test('the target claim: Block at exactly the size, Filesystem with the 6 % overhead on the MiB-aligned size, under 1 MiB refused', () => {
  const block = targetClaim(
    dv({ storageClassName: 'longhorn-v2', resources: { requests: { storage: String(6 * MiB + 512) } } }),
    cls('longhorn-v2'),
  );
  assert.ok('claim' in block);
  assert.equal((block.claim.spec as any).resources.requests.storage, String(6 * MiB + 512));
  assert.equal((block.claim.spec as any).volumeMode, 'Block');
  const fs = targetClaim(
    dv({
      storageClassName: 'rook-ceph-block',
      volumeMode: 'Filesystem',
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: String(6 * MiB + 512) } },
    }),
    cls('rook-ceph-block'),
  );
  assert.ok('claim' in fs);
  assert.equal((fs.claim.spec as any).resources.requests.storage, String(Math.ceil(7 * MiB * 1.06)));
  const tiny = targetClaim(
    dv({ storageClassName: 'longhorn-v2', resources: { requests: { storage: '512Ki' } } }),
    cls('longhorn-v2'),
  );
  assert.deepEqual(tiny, { error: 'PVC Spec is not valid - storage size should be at least 1MiB' });
  const noProfile = targetClaim(dv({ storageClassName: 'x', resources: { requests: { storage: '1Gi' } } }), {
    metadata: { name: 'x' },
    provisioner: 'example.com/csi',
  });
  assert.deepEqual(noProfile, { error: 'no accessMode specified in StorageProfile x' });
});

test("the importer pod: CDI's labels, restartPolicy OnFailure, user and fsGroup 107, the claim at /data or /dev/cdi-block-volume", () => {
  const d = dv({ storageClassName: 'rook-ceph-block', resources: { requests: { storage: '1Gi' } } });
  const claim = { metadata: { name: 'd', namespace: 'ns', uid: 'c-1' }, spec: { volumeMode: 'Filesystem' } };
  const pod = importerPod(d, claim, 'img') as any;
  assert.equal(pod.metadata.name, 'importer-d');
  assert.equal(pod.metadata.labels.app, 'containerized-data-importer');
  assert.equal(pod.metadata.labels['cdi.kubevirt.io'], 'importer');
  assert.equal(pod.spec.restartPolicy, 'OnFailure');
  assert.equal(pod.spec.securityContext.fsGroup, 107);
  // PodSecurity `restricted` (an import's namespace may enforce it) admits it, as CDI's.
  assert.equal(pod.spec.securityContext.seccompProfile.type, 'RuntimeDefault');
  assert.equal(pod.spec.containers[0].securityContext.seccompProfile.type, 'RuntimeDefault');
  assert.equal(pod.spec.containers[0].securityContext.runAsNonRoot, true);
  assert.deepEqual(pod.spec.containers[0].volumeMounts, [{ name: 'cdi-data-vol', mountPath: '/data' }]);
  assert.ok(pod.spec.containers[0].env.some((e: any) => e.name === 'OWNER_UID' && e.value === 'uid-1'));
});

test('DataVolume status: Pending while the claim is, ImportScheduled, ImportInProgress with progress, restarts counted, Succeeded at 100.0%', () => {
  const now = '2026-01-01T00:00:00Z';
  const claim = (phase: string) => ({ metadata: { name: 'd' }, status: { phase } });
  const pending = dataVolumeStatus(undefined, claim('Pending'), undefined, undefined, now).status;
  assert.equal(pending.phase, 'Pending');
  assert.equal(pending.conditions!.find((c) => c.type === 'Bound')!.message, 'PVC d Pending');
  const scheduled = dataVolumeStatus(
    pending,
    claim('Bound'),
    { status: { phase: 'Pending' } },
    undefined,
    now,
  );
  assert.equal(scheduled.status.phase, 'ImportScheduled');
  assert.equal(scheduled.event?.reason, 'ImportScheduled');
  const running = {
    status: { phase: 'Running', containerStatuses: [{ restartCount: 0, state: { running: {} } }] },
  };
  const inProgress = dataVolumeStatus(scheduled.status, claim('Bound'), running, '45.50%', now).status;
  assert.equal(inProgress.phase, 'ImportInProgress');
  assert.equal(inProgress.progress, '45.50%');
  const crash = {
    status: {
      phase: 'Running',
      containerStatuses: [
        {
          restartCount: 2,
          state: { waiting: { reason: 'CrashLoopBackOff' } },
          lastState: { terminated: { reason: 'Error', exitCode: 1 } },
        },
      ],
    },
  };
  const restarting = dataVolumeStatus(inProgress, claim('Bound'), crash, undefined, now).status;
  assert.equal(restarting.phase, 'ImportInProgress');
  assert.equal(restarting.restartCount, 2);
  assert.deepEqual(
    {
      status: restarting.conditions!.find((c) => c.type === 'Running')!.status,
      reason: restarting.conditions!.find((c) => c.type === 'Running')!.reason,
    },
    { status: 'False', reason: 'Error' },
  );
  const done = dataVolumeStatus(
    restarting,
    claim('Bound'),
    { status: { phase: 'Succeeded' } },
    undefined,
    now,
  );
  assert.equal(done.status.phase, 'Succeeded');
  assert.equal(done.status.progress, '100.0%');
  assert.equal(done.event?.reason, 'ImportSucceeded');
  assert.equal(done.status.conditions!.find((c) => c.type === 'Ready')!.status, 'True');
});

test("progress from the importer's metrics for this DataVolume only; Harvester reads its integer part", () => {
  const text =
    'kubevirt_cdi_import_progress_total{ownerUID="other"} 90\nkubevirt_cdi_import_progress_total{ownerUID="uid-1"} 45.678\n';
  assert.equal(progressFromMetrics(text, 'uid-1'), '45.68%');
  assert.equal(progressFromMetrics(text, 'uid-2'), undefined);
  assert.equal(dataVolumeProgress('88.82%'), 88);
  assert.equal(dataVolumeProgress('N/A'), undefined);
});

test("Harvester's DataVolume for a cdi image: its name, its target class, exactly virtualSize; no virtualSize refused", () => {
  const img = {
    metadata: { name: 'img', namespace: 'ns', uid: 'u' },
    spec: { url: 'http://x', targetStorageClassName: 'longhorn-v2' },
    status: { virtualSize: 10 * MiB + 1 },
  };
  const d = imageDataVolume(img, cls('longhorn-v2')) as any;
  assert.equal(d.metadata.name, 'img');
  assert.deepEqual(d.spec.storage, {
    storageClassName: 'longhorn-v2',
    resources: { requests: { storage: String(10 * MiB + 1) } },
  });
  assert.deepEqual(d.metadata.annotations, {});
  assert.throws(() => imageDataVolume({ ...img, status: {} }, cls('longhorn-v2')), /virtual size is not set/);
});
