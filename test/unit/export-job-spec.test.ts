// The export function's objects: the scratch PVC, the credentials Secret and the export Job.
import { EXPORT_SOURCE_LABEL, LABEL_IMPORT_NAME } from '../../functions/shared/labels.ts';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { API_VERSION, type VirtualMachineImport } from '../../functions/shared/api/index.ts';
import {
  buildCredentialsSecret,
  buildExportJob,
  buildScratchPvc,
  exportJobName,
} from '../../functions/export/job-spec.ts';
import { jobFinished } from '../../functions/shared/kube/job.ts';

const vmImport = {
  apiVersion: API_VERSION,
  kind: 'VirtualMachineImport',
  metadata: { name: 'my-import', namespace: 'team-a', uid: 'uid-1' },
  spec: { virtualMachineName: 'vm1' },
} as VirtualMachineImport;

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
    assert.deepEqual(container.command, [
      'node',
      '--max-semi-space-size=1',
      'dist/functions/export/job/main.mjs',
    ]);
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
