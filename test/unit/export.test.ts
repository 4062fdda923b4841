// Pure parts of the export slice: scratch size, Job spec, power condition mapping, disk status,
// progress throttle, export-status decisions.
import { overallProgress } from '../../functions/shared/progress.ts';
import { EXPORT_SOURCE_LABEL, LABEL_IMPORT_NAME } from '../../functions/shared/labels.ts';
import { describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { API_VERSION, type VirtualMachineImport } from '../../functions/shared/api/index.ts';
import { scratchSizeForDisks, GIB, formatBytes } from '../../functions/shared/sources/scratch-size.ts';
import { scratchSizeForOva } from '../../functions/shared/sources/ova/scratch-size.ts';
import {
  buildCredentialsSecret,
  buildExportJob,
  buildScratchPvc,
  exportJobName,
} from '../../functions/export/job-spec.ts';
import { powerConditionsOf } from '../../functions/shared/sources/power-conditions.ts';
import { conditionForPowerAction } from '../../functions/shared/sources/vmware/power-step.ts';
import { applyProgress, diskImportStatusOf, type DiskState } from '../../functions/export/job/disk-status.ts';
import { throttle, type ThrottleClock } from '../../functions/export/job/throttle.ts';
import { decideExportStatus } from '../../functions/export-status/decide.ts';
import { numberSetting, stringSetting } from '../../functions/shared/settings.ts';
import { jobFinished } from '../../functions/shared/kube/job.ts';

const vmImport = {
  apiVersion: API_VERSION,
  kind: 'VirtualMachineImport',
  metadata: { name: 'my-import', namespace: 'team-a', uid: 'uid-1' },
  spec: { virtualMachineName: 'vm1' },
} as VirtualMachineImport;

describe('scratch size', () => {
  const sizing = { factor: 1.1, minGiB: 1 };
  test('allocated bytes x factor + min, rounded up to GiB', () => {
    const s = scratchSizeForDisks(
      [
        { sizeBytes: 100 * GIB, allocatedBytes: 10 * GIB },
        { sizeBytes: 20 * GIB, allocatedBytes: 0 },
      ],
      sizing,
    );
    assert.equal(s.basisBytes, 10 * GIB);
    assert.equal(s.gib, 12); // 11 + 1
    assert.match(s.basis, /allocated bytes of 2 disk/);
  });
  test('virtual size when the source cannot tell (or reports nonsense)', () => {
    const s = scratchSizeForDisks(
      [{ sizeBytes: 4 * GIB }, { sizeBytes: GIB, allocatedBytes: 2 * GIB }],
      sizing,
    );
    assert.equal(s.basisBytes, 5 * GIB);
    assert.equal(s.gib, Math.ceil(5 * 1.1 + 1));
    assert.match(s.basis, /virtual size/);
  });
  test('tiny VMs get the minimum; nothing gives at least 1 GiB', () => {
    assert.equal(scratchSizeForDisks([{ sizeBytes: 1024 * 1024, allocatedBytes: 1024 }], sizing).gib, 2);
    assert.equal(scratchSizeForDisks([], { factor: 1, minGiB: 0 }).gib, 1);
  });
  test('OVA: twice the Content-Length; without one the OVF disks', () => {
    const s = scratchSizeForOva(3 * GIB, undefined, sizing);
    assert.equal(s.basisBytes, 6 * GIB);
    assert.equal(s.gib, Math.ceil(6 * 1.1 + 1));
    const t = scratchSizeForOva(
      undefined,
      [{ sizeBytes: 8 * GIB, allocatedBytes: 2 * GIB, staged: false }],
      sizing,
    );
    assert.equal(t.basisBytes, 2 * GIB);
  });
  test('OVA: compressed or staged disks can need more than twice the archive', () => {
    // 1 GiB of gzip holding 3 GiB of a qcow2 disk's data: staged image + raw output = 6 GiB.
    const s = scratchSizeForOva(
      1 * GIB,
      [{ sizeBytes: 8 * GIB, allocatedBytes: 3 * GIB, staged: true }],
      sizing,
    );
    assert.equal(s.basisBytes, 6 * GIB);
    assert.match(s.basis, /populated size of 1 OVF disk\(s\), staged ones twice/);
    const t = scratchSizeForOva(
      4 * GIB,
      [{ sizeBytes: 8 * GIB, allocatedBytes: 3 * GIB, staged: false }],
      sizing,
    );
    assert.equal(t.basisBytes, 8 * GIB);
    assert.match(t.basis, /2 x the OVA's size/);
  });
  test('formatBytes', () => {
    assert.equal(formatBytes(5), '5 B');
    assert.equal(formatBytes(1.5 * GIB), '1.5 GiB');
  });
});

describe('settings', () => {
  test('env wins, empty or invalid falls back to the default', () => {
    assert.equal(numberSetting('SCRATCH_SIZE_FACTOR', { SCRATCH_SIZE_FACTOR: '2' }), 2);
    assert.equal(numberSetting('SCRATCH_SIZE_FACTOR', { SCRATCH_SIZE_FACTOR: 'lots' }), 1.1);
    assert.equal(numberSetting('EXPORT_JOBS_PER_SOURCE', { EXPORT_JOBS_PER_SOURCE: '0' }, 1), 4);
    assert.equal(stringSetting('SCRATCH_STORAGE_CLASS', { SCRATCH_STORAGE_CLASS: ' ' }), '');
    assert.equal(numberSetting('EXPORT_JOB_DEADLINE_SECONDS', {}), 86400);
  });
});

describe('export Job spec', () => {
  const source = { kind: 'VmwareSource', namespace: 'team-a', name: 'vc' };
  const job = buildExportJob(vmImport, {
    image: 'example/vm-import:1',
    source,
    credentialsSecret: 'vc-credentials',
    deadlineSeconds: 86400,
    env: { LOG_LEVEL: 'debug', EXPORT_DISK_CONCURRENCY: '3', SECRET_THING: 'x', VCENTER_PASSWORD: 'hunter2' },
  });
  const spec = job.spec as any;
  const pod = spec.template.spec;
  const container = pod.containers[0];

  test('name, owner, labels, backoff, deadline, no TTL', () => {
    assert.equal(job.metadata?.name, 'my-import-export');
    assert.equal(exportJobName('my-import'), 'my-import-export');
    const owner = job.metadata!.ownerReferences![0]!;
    assert.deepEqual(
      [owner.kind, owner.name, owner.uid, owner.controller, owner.blockOwnerDeletion],
      ['VirtualMachineImport', 'my-import', 'uid-1', true, false],
    );
    assert.equal(job.metadata?.labels?.[LABEL_IMPORT_NAME], 'my-import');
    assert.ok(job.metadata?.labels?.[EXPORT_SOURCE_LABEL]);
    assert.equal(spec.backoffLimit, 2);
    assert.equal(spec.activeDeadlineSeconds, 86400);
    assert.equal('ttlSecondsAfterFinished' in spec, false);
  });
  test('pod: Never restart, exporter SA, non-root, command, image', () => {
    assert.equal(pod.restartPolicy, 'Never');
    assert.equal(pod.serviceAccountName, 'vm-import-exporter');
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(container.securityContext.allowPrivilegeEscalation, false);
    assert.equal(container.name, 'exporter');
    assert.equal(container.image, 'example/vm-import:1');
    assert.deepEqual(container.command, ['node', 'dist/functions/export/job/main.mjs']);
  });
  test('env: import identity, dirs and copied settings only', () => {
    const env = Object.fromEntries(container.env.map((e: any) => [e.name, e.value]));
    assert.deepEqual(env, {
      IMPORT_NAMESPACE: 'team-a',
      IMPORT_NAME: 'my-import',
      IMPORT_UID: 'uid-1',
      SCRATCH_DIR: '/scratch',
      CREDENTIALS_DIR: '/credentials',
      EXPORT_DISK_CONCURRENCY: '3',
      LOG_LEVEL: 'debug',
    });
  });
  test('the Secret is mounted read-only, never in env or args', () => {
    const secretVolume = pod.volumes.find((v: any) => v.secret);
    assert.equal(secretVolume.secret.secretName, 'vc-credentials');
    const mount = container.volumeMounts.find((m: any) => m.name === secretVolume.name);
    assert.deepEqual([mount.mountPath, mount.readOnly], ['/credentials', true]);
    const text = JSON.stringify([container.env, container.command, container.args ?? []]);
    assert.doesNotMatch(text, /hunter2|secretKeyRef|vc-credentials/);
    assert.equal(container.envFrom, undefined);
    const scratch = pod.volumes.find((v: any) => v.persistentVolumeClaim);
    assert.equal(scratch.persistentVolumeClaim.claimName, 'my-import-scratch');
  });
  test('without credentials (OVA without a Secret) there is no Secret volume', () => {
    const ova = buildExportJob(vmImport, {
      image: 'i',
      source: { kind: 'OvaSource', namespace: 'team-a', name: 'o' },
      deadlineSeconds: 60,
      env: {},
    }) as any;
    assert.equal(
      ova.spec.template.spec.volumes.some((v: any) => v.secret),
      false,
    );
  });
  test('PVC and Secret copy are owned and labelled', () => {
    const pvc = buildScratchPvc(vmImport, 12, 'longhorn') as any;
    assert.equal(pvc.metadata.name, 'my-import-scratch');
    assert.equal(pvc.spec.resources.requests.storage, '12Gi');
    assert.equal(pvc.spec.storageClassName, 'longhorn');
    assert.equal('storageClassName' in (buildScratchPvc(vmImport, 1, '').spec as object), false);
    const secret = buildCredentialsSecret(vmImport, { password: 'eA==' }) as any;
    assert.equal(secret.metadata.name, 'my-import-credentials');
    assert.equal(secret.metadata.ownerReferences[0].uid, 'uid-1');
  });
  test('jobFinished reads Complete/Failed', () => {
    assert.equal(jobFinished({ status: {} } as any), undefined);
    assert.deepEqual(
      jobFinished({
        status: { conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded' }] },
      } as any),
      { type: 'Failed', reason: 'BackoffLimitExceeded', message: '' },
    );
  });
});

describe('power conditions', () => {
  const spec = { gracefulShutdownTimeoutSeconds: 30 };
  test('each action maps to its upstream condition with reason and message', () => {
    const off = conditionForPowerAction({ kind: 'markPoweredOff', condition: 'VMPoweredOff' }, 'vm1', spec);
    assert.deepEqual([off?.type, off?.status, off?.reason], ['VMPoweredOff', 'True', 'PoweredOff']);
    const guest = conditionForPowerAction(
      { kind: 'shutdownGuest', condition: 'VMShutdownGuest' },
      'vm1',
      spec,
    );
    assert.equal(guest?.type, 'VMShutdownGuest');
    assert.match(guest?.message ?? '', /30 s/);
    const forced = conditionForPowerAction(
      { kind: 'powerOff', condition: 'VMPoweringOff', why: 'forced' },
      'vm1',
      spec,
    );
    assert.deepEqual([forced?.type, forced?.reason], ['VMPoweringOff', 'ForcePowerOff']);
    const timeout = conditionForPowerAction(
      { kind: 'powerOff', condition: 'VMPoweringOff', why: 'gracefulTimeout' },
      'vm1',
      {},
    );
    assert.equal(timeout?.reason, 'GracefulShutdownTimeout');
    assert.match(timeout?.message ?? '', /60 s/);
    assert.equal(conditionForPowerAction({ kind: 'wait', recheckAfterSeconds: 5 }, 'vm1', spec), undefined);
    assert.equal(
      conditionForPowerAction({ kind: 'fail', reason: 'VmNotPoweredOff', message: 'y' }, 'vm1', spec),
      undefined,
    );
  });
  test('conditions already True resume with their transition time', () => {
    const c = powerConditionsOf([
      { type: 'VMShutdownGuest', status: 'True', lastTransitionTime: '2024-01-01T00:00:00Z' },
      { type: 'VMPoweringOff', status: 'False' },
      { type: 'VMExported', status: 'True' },
    ]);
    assert.deepEqual(Object.keys(c), ['VMShutdownGuest']);
    assert.equal(c.VMShutdownGuest?.since.toISOString(), '2024-01-01T00:00:00.000Z');
  });
});

describe('disk status', () => {
  test('progress reports become diskImportStatus entries; others’ fields are kept', () => {
    const states = new Map<number, DiskState>();
    states.set(1, { index: 1, sizeBytes: 100, bus: 'sata', phase: 'pending', bytesDone: 0, bytesTotal: 100 });
    applyProgress(states, { index: 1, phase: 'exporting', bytesDone: 40, bytesTotal: 80 });
    applyProgress(states, { index: 0, phase: 'done', bytesDone: 10, bytesTotal: 10 });
    const list = diskImportStatusOf(
      [{ diskName: 'disk-1.img', VirtualMachineImage: 'image-x' }],
      states.values(),
      '/scratch',
      'virtio',
    );
    assert.deepEqual(
      list.map((d) => [
        d.diskName,
        d.diskSize,
        d.busType,
        d.progress?.phase,
        d.progress?.bytesDone,
        d.VirtualMachineImage,
      ]),
      [
        ['disk-0.img', null, 'virtio', 'verifying', 10, undefined],
        ['disk-1.img', 100, 'sata', 'exporting', 40, 'image-x'],
      ],
    );
    assert.equal(list[0]!.diskLocalPath, '/scratch');
  });
});

describe('throttle', () => {
  function fakeClock() {
    let now = 0;
    const timers: Array<{ at: number; fn: () => void; id: number }> = [];
    let id = 0;
    const clock: ThrottleClock = {
      now: () => now,
      setTimer: (fn, ms) => {
        timers.push({ at: now + ms, fn, id: ++id });
        return id;
      },
      clearTimer: (h) => {
        const i = timers.findIndex((t) => t.id === h);
        if (i >= 0) timers.splice(i, 1);
      },
    };
    const advance = async (ms: number) => {
      now += ms;
      for (const t of timers.filter((t) => t.at <= now)) {
        timers.splice(timers.indexOf(t), 1);
        t.fn();
      }
      await new Promise((r) => setImmediate(r));
    };
    return { clock, advance };
  }

  test('at most one run per interval, the last change is never lost', async () => {
    const { clock, advance } = fakeClock();
    const run = mock.fn(async () => undefined);
    const t = throttle(run, 2000, undefined, clock);
    t.signal(); // runs at once
    await advance(0);
    assert.equal(run.mock.callCount(), 1);
    for (let i = 0; i < 50; i++) {
      t.signal();
      await advance(10);
    }
    assert.equal(run.mock.callCount(), 1);
    await advance(2000);
    assert.equal(run.mock.callCount(), 2);
    await advance(5000);
    assert.equal(run.mock.callCount(), 2); // nothing new
    t.signal();
    await t.flush();
    assert.equal(run.mock.callCount(), 3);
    await t.flush();
    assert.equal(run.mock.callCount(), 3);
  });
  test('runs never overlap and errors go to onError', async () => {
    let active = 0;
    let maxActive = 0;
    const errors: unknown[] = [];
    const t = throttle(
      async () => {
        active++;
        maxActive = Math.max(maxActive, active);
        await new Promise((r) => setTimeout(r, 5));
        active--;
        throw new Error('boom');
      },
      0,
      (e) => errors.push(e),
    );
    t.signal();
    t.signal();
    t.signal();
    await t.flush();
    assert.equal(maxActive, 1);
    assert.ok(errors.length >= 1);
  });
});

describe('export-status decisions', () => {
  const job = { namespace: 'team-a', name: 'my-import-export' };
  test('VMExported=True → disksExported with the exporter message and 60 %', () => {
    const out = decideExportStatus(
      {
        importStatus: 'sourceReady',
        importConditions: [
          { type: 'VMExported', status: 'True', reason: 'DisksExported', message: 'exported 2 disk(s)' },
        ],
      },
      undefined,
    );
    assert.equal(out.action, 'update');
    if (out.action !== 'update') return;
    assert.equal(out.status.importStatus, 'disksExported');
    assert.equal(overallProgress(out.status), 60, 'the frame writes this progress');
    assert.deepEqual([out.condition?.status, out.condition?.message], ['True', 'exported 2 disk(s)']);
  });
  test('VMExportFailed=True → VMMigrationFailed with its reason and message', () => {
    const out = decideExportStatus(
      {
        importStatus: 'sourceReady',
        importConditions: [
          { type: 'VMExportFailed', status: 'True', reason: 'ToolsNotRunning', message: 'no tools' },
        ],
      },
      { ...job, type: 'Complete', reason: '', message: '' },
    );
    assert.ok(out.action === 'update');
    assert.equal(out.status.importStatus, 'VMMigrationFailed');
    assert.deepEqual([out.condition?.reason, out.condition?.message], ['ToolsNotRunning', 'no tools']);
  });
  test('a failed Job without a result names the Job, the reason, the last error and the logs', () => {
    const out = decideExportStatus(
      {
        importStatus: 'sourceReady',
        importConditions: [
          {
            type: 'ExportAttemptFailed',
            status: 'True',
            reason: 'EndpointUnreachable',
            message: 'ECONNREFUSED',
          },
        ],
      },
      {
        ...job,
        type: 'Failed',
        reason: 'BackoffLimitExceeded',
        message: 'Job has reached the specified backoff limit',
      },
    );
    assert.ok(out.action === 'update');
    assert.equal(out.status.importStatus, 'VMMigrationFailed');
    assert.equal(out.condition?.reason, 'ExportJobFailed');
    assert.match(out.condition!.message, /team-a\/my-import-export failed \(BackoffLimitExceeded/);
    assert.match(out.condition!.message, /ECONNREFUSED/);
    assert.match(out.condition!.message, /kubectl logs -n team-a job\/my-import-export/);
  });
  test('running Job, nothing recorded → ignore', () => {
    assert.deepEqual(decideExportStatus({ importStatus: 'sourceReady' }, undefined), { action: 'ignore' });
  });
});
