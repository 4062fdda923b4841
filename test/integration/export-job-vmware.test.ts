// The export slice on the embedded API server with vcsim: the export function creates the scratch
// PVC, credentials and Job idempotently; the exporter program (run as the Job would run it, as a
// child process with KUBECONFIG) powers off and exports; export-status moves the import on.
import { EXPORT_WAKE_ANNOTATION } from '../../functions/shared/labels.ts';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_VERSION, type VirtualMachineImportStatus } from '../../functions/shared/api/index.ts';
import { phaseFunction } from '../../functions/shared/phase-function.ts';
import type { Obj } from '../../functions/shared/kube/client.ts';
import { createHandler as createExportHandler } from '../../functions/export/index.ts';
import { exportStatusStep } from '../../functions/export-status/index.ts';
import { Inventory } from '../../local-cluster/simulators/inventory.ts';
import { startVcsim, type Vcsim } from '../../local-cluster/simulators/vcsim/index.ts';
import { apiServerEvent, noContext, startTestApi, type TestApi } from '../support/cluster-api.ts';
import { createSourceReadyImport, runExporterProgram } from '../support/export-job.ts';

const ROOT = join(import.meta.dirname, '../..');
const WORK = join(ROOT, 'test/.fixtures/export-it');
const MiB = 1024 * 1024;

const inventory = Inventory.parse({
  vmware: {
    datacenter: 'DC0',
    networks: [{ name: 'VM Network', type: 'standard' }],
    vms: [
      {
        name: 'export-me',
        folder: 'Discovered VM',
        guestId: 'otherLinux64Guest',
        powerState: 'poweredOn',
        toolsRunning: true,
        shutdownSeconds: 0.3,
        cpus: 2,
        memoryMiB: 256,
        disks: [
          { sizeMiB: 4, controller: 'pvscsi', allocatedPercent: 50, seed: 21 },
          { sizeMiB: 2, controller: 'sata', allocatedPercent: 25, seed: 22 },
        ],
        nics: [{ network: 'VM Network', type: 'vmxnet3', mac: '00:50:56:0a:0b:0c' }],
      },
      { name: 'no-tools', folder: 'Discovered VM', toolsRunning: false, disks: [{ sizeMiB: 1, seed: 23 }] },
      { name: 'fn-vm', folder: 'Discovered VM', powerState: 'poweredOff', disks: [{ sizeMiB: 1, seed: 24 }] },
      { name: 'slow-off', folder: 'Discovered VM', shutdownSeconds: 120, disks: [{ sizeMiB: 1, seed: 25 }] },
      {
        name: 'windows-pvscsi',
        folder: 'Discovered VM',
        guestId: 'windows2019srv_64Guest',
        shutdownSeconds: 0.3,
        disks: [{ sizeMiB: 1, controller: 'pvscsi', seed: 26 }],
        nics: [{ network: 'VM Network', type: 'vmxnet3' }],
      },
    ],
  },
});

let api: TestApi;
let vcsim: Vcsim;
let root: string;

const exportHandler = () => createExportHandler({ kube: api.kube });
const exportStatusHandler = () => phaseFunction('export-status', exportStatusStep, { kube: api.kube });

async function getImport(name: string, namespace = 'default') {
  return api.kube.get<Obj>(API_VERSION, 'VirtualMachineImport', namespace, name);
}
const statusOf = async (name: string, namespace = 'default') =>
  (await getImport(name, namespace)).status as VirtualMachineImportStatus;

const createImport = (name: string, spec: Record<string, unknown>, namespace = 'default') =>
  createSourceReadyImport(
    api,
    name,
    {
      sourceCluster: { name: 'vcsim', namespace: 'default', kind: 'VmwareSource', apiVersion: API_VERSION },
      folder: 'Discovered VM',
      ...spec,
    },
    { namespace, status: { importedVirtualMachineName: name } },
  );

const runExporter = (vmImport: Obj, scratch: string, credentials: string) =>
  runExporterProgram(
    api,
    vmImport,
    { scratch, credentials },
    { EXPORT_DISK_CONCURRENCY: '2', PROGRESS_INTERVAL_MS: '100' },
  );

const condition = (s: VirtualMachineImportStatus, type: string) =>
  s.importConditions?.find((c) => c.type === type);

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'export-it-'));
  [api, vcsim] = await Promise.all([startTestApi(), startVcsim({ workDir: WORK, inventory })]);
  await api.kube.create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'vsphere-credentials', namespace: 'default' },
    stringData: { username: vcsim.username, password: vcsim.password, caCert: vcsim.caCertPem },
  });
  await api.kube.create({
    apiVersion: API_VERSION,
    kind: 'VmwareSource',
    metadata: { name: 'vcsim', namespace: 'default' },
    spec: {
      endpoint: vcsim.url,
      dc: vcsim.datacenter,
      credentials: { name: 'vsphere-credentials', namespace: 'default' },
    },
  });
  await api.kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-b' } });
});

after(async () => {
  await vcsim?.stop();
  await api?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('export function', () => {
  test('creates the scratch PVC and the Job once under duplicate events; mounts the Secret of the same namespace', async () => {
    const vmImport = await createImport('fn-import', { virtualMachineName: 'fn-vm' });
    const handle = exportHandler();
    await Promise.all([
      handle(noContext, apiServerEvent(vmImport)),
      handle(noContext, apiServerEvent(vmImport)),
    ]);
    await handle(noContext, apiServerEvent(await getImport('fn-import')));

    const jobs = await api.kube.list<Obj>('batch/v1', 'Job', 'default');
    assert.deepEqual(
      jobs.map((j) => j.metadata?.name),
      ['fn-import-export'],
    );
    const job = jobs[0] as any;
    const pod = job.spec.template.spec;
    assert.equal(pod.volumes.find((v: any) => v.secret).secret.secretName, 'vsphere-credentials');
    assert.equal(job.metadata.ownerReferences[0].uid, vmImport.metadata!.uid);
    const pvc = (await api.kube.get<Obj>(
      'v1',
      'PersistentVolumeClaim',
      'default',
      'fn-import-scratch',
    )) as any;
    // 1 MiB virtual (vCenter reports no allocation) x 1.1 + 1 GiB → 2 GiB
    assert.equal(pvc.spec.resources.requests.storage, '2Gi');
    const status = await statusOf('fn-import');
    const c = condition(status, 'DisksExported');
    assert.deepEqual([c?.status, c?.reason], ['Unknown', 'ExportJobCreated']);
    assert.match(c?.message ?? '', /fn-import-export.*fn-import-scratch of 2 GiB/);
    assert.equal(status.importStatus, 'sourceReady');
    const events = await api.kube.list<Obj>('v1', 'Event', 'default');
    assert.equal(
      events.filter((e: any) => e.reason === 'ExportJobCreated' && e.involvedObject.name === 'fn-import')
        .length,
      1,
    );
  });

  test('an import in another namespace may not use the source: no copy of its Secret, no Job (tenancy)', async () => {
    const vmImport = await createImport('cross-ns', { virtualMachineName: 'fn-vm' }, 'team-b');
    await exportHandler()(noContext, apiServerEvent(vmImport));
    assert.deepEqual(
      (await api.kube.list<Obj>('v1', 'Secret', 'team-b')).map((s) => s.metadata?.name),
      [],
      'no Secret copied into team-b',
    );
    assert.equal(await api.kube.find('batch/v1', 'Job', 'team-b', 'cross-ns-export'), undefined);
    const c = condition(await statusOf('cross-ns', 'team-b'), 'VMExportFailed');
    assert.deepEqual([c?.status, c?.reason], ['True', 'SourceNotShared']);
  });

  test('a second import of the source in its namespace mounts the same Secret', async () => {
    const vmImport = await createImport('second', { virtualMachineName: 'fn-vm' });
    await exportHandler()(noContext, apiServerEvent(vmImport));
    const job = (await api.kube.get<Obj>('batch/v1', 'Job', 'default', 'second-export')) as any;
    assert.equal(
      job.spec.template.spec.volumes.find((v: any) => v.secret).secret.secretName,
      'vsphere-credentials',
    );
  });

  test('above EXPORT_JOBS_PER_SOURCE imports queue; a finished Job wakes the oldest, which starts', async () => {
    process.env.EXPORT_JOBS_PER_SOURCE = '2'; // fn-import and second run against this source
    try {
      const handle = exportHandler();
      const vmImport = await createImport('queued', { virtualMachineName: 'fn-vm' });
      await handle(noContext, apiServerEvent(vmImport));
      assert.equal(await api.kube.find('batch/v1', 'Job', 'default', 'queued-export'), undefined);
      const c = condition(await statusOf('queued'), 'DisksExported');
      assert.equal(c?.reason, 'ExportQueued');
      assert.match(
        c?.message ?? '',
        /EXPORT_JOBS_PER_SOURCE=2 export Jobs already run against VmwareSource default\/vcsim/,
      );
      // Creation timestamps have one-second resolution: make the second one surely younger.
      await new Promise((r) => setTimeout(r, 1100));
      const younger = await createImport('queued-later', { virtualMachineName: 'fn-vm' });
      await handle(noContext, apiServerEvent(younger));
      assert.equal(condition(await statusOf('queued-later'), 'DisksExported')?.reason, 'ExportQueued');

      const finished = await api.kubectl(
        'patch',
        'job',
        'second-export',
        '-n',
        'default',
        '--subresource=status',
        '--type=merge',
        '-o',
        'json',
        '-p',
        // As the Job controller writes a failed Job (kube-apiserver refuses Failed=True without
        // FailureTarget=True and a startTime since 1.31).
        JSON.stringify({
          status: {
            startTime: new Date(Date.now() - 60_000).toISOString(),
            failed: 1,
            conditions: ['FailureTarget', 'Failed'].map((type) => ({
              type,
              status: 'True',
              reason: 'BackoffLimitExceeded',
              message: 'Job has reached the specified backoff limit',
              lastProbeTime: new Date().toISOString(),
              lastTransitionTime: new Date().toISOString(),
            })),
          },
        }),
      );
      const job = JSON.parse(finished) as Obj;
      // One slot is free: the Job event wakes the oldest queued import only, twice the same way.
      for (let i = 0; i < 2; i++) await handle(noContext, apiServerEvent(job));
      const woken = (await getImport('queued')).metadata?.annotations?.[EXPORT_WAKE_ANNOTATION];
      assert.equal(woken, job.metadata?.uid);
      assert.equal(
        (await getImport('queued-later')).metadata?.annotations?.[EXPORT_WAKE_ANNOTATION],
        undefined,
      );

      // Both queued imports get an event at once: only the oldest takes the free slot.
      await Promise.all([
        handle(noContext, apiServerEvent(await getImport('queued-later'))),
        handle(noContext, apiServerEvent(await getImport('queued'))),
      ]);
      assert.ok(await api.kube.find('batch/v1', 'Job', 'default', 'queued-export'));
      assert.equal(await api.kube.find('batch/v1', 'Job', 'default', 'queued-later-export'), undefined);
      assert.equal(condition(await statusOf('queued-later'), 'DisksExported')?.reason, 'ExportQueued');
    } finally {
      delete process.env.EXPORT_JOBS_PER_SOURCE;
    }
  });

  test('export-status: a Job that failed without a result fails the import, naming the Job and its logs', async () => {
    const job = await api.kube.get<Obj>('batch/v1', 'Job', 'default', 'second-export');
    await exportStatusHandler()(noContext, apiServerEvent(job));
    const status = await statusOf('second');
    assert.equal(status.importStatus, 'VMMigrationFailed');
    const c = condition(status, 'DisksExported');
    assert.equal(c?.reason, 'ExportJobFailed');
    assert.match(c?.message ?? '', /default\/second-export failed \(BackoffLimitExceeded/);
    assert.match(c?.message ?? '', /kubectl logs -n default job\/second-export/);
  });
});

describe('exporter program', () => {
  let credentialsDir: string;
  before(async () => {
    // What kubelet makes of the Secret volume: one file per key (plus its ..data bookkeeping).
    credentialsDir = join(root, 'credentials');
    await mkdir(join(credentialsDir, '..data'), { recursive: true });
    await writeFile(join(credentialsDir, 'username'), vcsim.username);
    await writeFile(join(credentialsDir, 'password'), vcsim.password);
    await writeFile(join(credentialsDir, 'caCert'), vcsim.caCertPem);
  });

  test('graceful shutdown, one-pass export of 2 disks byte-identical to the source; export-status → disksExported', async () => {
    const vmImport = await createImport('vmw', {
      virtualMachineName: 'export-me',
      gracefulShutdownTimeoutSeconds: 30,
    });
    const scratch = join(root, 'scratch-vmw');
    await mkdir(scratch);
    const run = await runExporter(vmImport, scratch, credentialsDir);
    assert.equal(run.exitCode, 0, run.stdout + run.stderr);
    assert.doesNotMatch(run.stdout + run.stderr, new RegExp(vcsim.password));

    const status = await statusOf('vmw');
    assert.equal(status.importStatus, 'sourceReady', 'the Job never writes importStatus');
    assert.deepEqual(
      status.importConditions
        ?.filter((c) => c.type.startsWith('VM'))
        .map((c) => [c.type, c.status, c.reason]),
      [
        ['VMShutdownGuest', 'True', 'GuestShutdownRequested'],
        ['VMPoweredOff', 'True', 'PoweredOff'],
        ['VMExported', 'True', 'DisksExported'],
      ],
    );
    assert.match(
      condition(status, 'VMExported')?.message ?? '',
      /exported 2 disk\(s\) of VM export-me: 6\.0 MiB virtual/,
    );
    assert.deepEqual(
      status.diskImportStatus?.map((d) => [
        d.diskName,
        d.diskSize,
        d.diskLocalPath,
        d.busType,
        d.progress?.phase,
      ]),
      [
        ['disk-0.img', 4 * MiB, scratch, 'scsi', 'exported'],
        ['disk-1.img', 2 * MiB, scratch, 'sata', 'exported'],
      ],
    );
    assert.deepEqual(status.guestOS, {
      family: 'linux',
      id: 'otherLinux64Guest',
      name: 'Other Linux (64-bit)',
      detectedFrom: 'vSphere config.guestId',
      virtioDrivers: true,
    });
    assert.deepEqual((await readdir(scratch)).sort(), ['disk-0.img', 'disk-1.img']);
    const sources = vcsim.disks.filter((d) => d.vm === 'export-me');
    for (const [i, source] of sources.entries())
      assert.ok(
        (await readFile(join(scratch, `disk-${i}.img`))).equals(await readFile(source.rawPath)),
        `disk ${i}`,
      );

    const cm = (await api.kube.get<Obj>('v1', 'ConfigMap', 'default', 'vmw-source-vm')) as any;
    const vm = JSON.parse(cm.data['vm.json']);
    assert.equal(vm.name, 'export-me');
    assert.equal(vm.disks.length, 2);
    assert.equal(cm.metadata.ownerReferences[0].uid, vmImport.metadata!.uid);

    await exportStatusHandler()(noContext, apiServerEvent(await getImport('vmw')));
    const after = await statusOf('vmw');
    assert.equal(after.importStatus, 'disksExported');
    assert.equal(after.progress, 60);
    assert.equal(condition(after, 'DisksExported')?.status, 'True');

    // A re-run (e.g. a duplicate Job) finds the result recorded and does nothing.
    const again = await runExporter(vmImport, scratch, credentialsDir);
    assert.equal(again.exitCode, 0);
    assert.match(again.stdout, /nothing to do/);
  });

  test('VMware Tools missing without forcePowerOff → VMExportFailed with a clear message → VMMigrationFailed', async () => {
    const vmImport = await createImport('notools', { virtualMachineName: 'no-tools' });
    const scratch = join(root, 'scratch-notools');
    await mkdir(scratch);
    const run = await runExporter(vmImport, scratch, credentialsDir);
    assert.equal(run.exitCode, 0, 'a recorded failure is not retried by the Job backoff');
    const status = await statusOf('notools');
    const failed = condition(status, 'VMExportFailed');
    assert.deepEqual([failed?.status, failed?.reason], ['True', 'ToolsNotRunning']);
    assert.match(failed?.message ?? '', /VMware Tools is not running in the VM no-tools.*forcePowerOff/);
    assert.deepEqual(await readdir(scratch), []);

    await exportStatusHandler()(noContext, apiServerEvent(await getImport('notools')));
    const after = await statusOf('notools');
    assert.equal(after.importStatus, 'VMMigrationFailed');
    assert.equal(condition(after, 'DisksExported')?.reason, 'ToolsNotRunning');
  });

  test('forcePowerOff powers the same VM off and exports it', async () => {
    const vmImport = await createImport('forced', {
      virtualMachineName: 'no-tools',
      forcePowerOff: true,
    });
    const scratch = join(root, 'scratch-forced');
    await mkdir(scratch);
    const run = await runExporter(vmImport, scratch, credentialsDir);
    assert.equal(run.exitCode, 0, run.stdout + run.stderr);
    const status = await statusOf('forced');
    assert.deepEqual(
      status.importConditions?.map((c) => [c.type, c.reason]),
      [
        ['VMPoweringOff', 'ForcePowerOff'],
        ['VMPoweredOff', 'PoweredOff'],
        // the inventory gives no guestId: vSphere's otherGuest64 says nothing about the OS
        ['GuestOperatingSystem', 'NoVirtioDrivers'],
        ['VMExported', 'DisksExported'],
      ],
    );
    assert.equal(status.diskImportStatus?.[0]?.busType, 'sata', 'PVSCSI of an unknown guest → sata');
    const source = vcsim.disks.find((d) => d.vm === 'no-tools')!;
    assert.ok((await readFile(join(scratch, 'disk-0.img'))).equals(await readFile(source.rawPath)));
  });

  test('a Windows VM with PVSCSI and vmxnet3: sata disk and e1000e NIC, scsi/virtio when the spec says it has virtio drivers', async () => {
    const safe = await createImport('win-safe', { virtualMachineName: 'windows-pvscsi' });
    const virtio = await createImport('win-virtio', {
      virtualMachineName: 'windows-pvscsi',
      guestHasVirtioDrivers: true,
    });
    for (const [vmImport, dir] of [
      [safe, 'scratch-win-safe'],
      [virtio, 'scratch-win-virtio'],
    ] as const) {
      await mkdir(join(root, dir));
      const run = await runExporter(vmImport, join(root, dir), credentialsDir);
      assert.equal(run.exitCode, 0, run.stdout + run.stderr);
    }
    const safeStatus = await statusOf('win-safe');
    assert.equal(safeStatus.diskImportStatus?.[0]?.busType, 'sata');
    assert.deepEqual(safeStatus.guestOS, {
      family: 'windows',
      id: 'windows2019srv_64Guest',
      name: 'Microsoft Windows Server 2019 (64-bit)',
      detectedFrom: 'vSphere config.guestId',
      virtioDrivers: false,
    });
    assert.match(
      condition(safeStatus, 'GuestOperatingSystem')?.message ?? '',
      /Windows Server 2019.*without virtio drivers.*sata disks, e1000e NICs.*guestHasVirtioDrivers: true/,
    );
    const safeVm = JSON.parse(
      ((await api.kube.get<Obj>('v1', 'ConfigMap', 'default', 'win-safe-source-vm')) as any).data['vm.json'],
    );
    assert.equal(safeVm.nics[0].model, 'e1000e');
    const virtioStatus = await statusOf('win-virtio');
    assert.equal(virtioStatus.diskImportStatus?.[0]?.busType, 'scsi');
    assert.equal(virtioStatus.guestOS?.virtioDrivers, true);
    const virtioVm = JSON.parse(
      ((await api.kube.get<Obj>('v1', 'ConfigMap', 'default', 'win-virtio-source-vm')) as any).data[
        'vm.json'
      ],
    );
    assert.equal(virtioVm.nics[0].model, 'virtio');
  });

  test('SIGTERM (Job deleted) aborts the wait at once, exits non-zero and records no failure', async () => {
    const vmImport = await createImport('sigterm', {
      virtualMachineName: 'slow-off',
      gracefulShutdownTimeoutSeconds: 300,
    });
    const scratch = join(root, 'scratch-sigterm');
    await mkdir(scratch);
    const child = runExporter(vmImport, scratch, credentialsDir);
    for (let i = 0; i < 100 && !condition(await statusOf('sigterm'), 'VMShutdownGuest'); i++)
      await new Promise((r) => setTimeout(r, 100));
    assert.ok(condition(await statusOf('sigterm'), 'VMShutdownGuest'), 'the guest shutdown was requested');
    const started = Date.now();
    child.kill('SIGTERM');
    const run = await child;
    assert.ok(Date.now() - started < 5000, 'stops without waiting for the guest');
    assert.equal(run.exitCode, 143);
    assert.match(run.stdout, /export aborted/);
    const status = await statusOf('sigterm');
    assert.equal(condition(status, 'VMExportFailed'), undefined);
    assert.equal(condition(status, 'VMExported'), undefined);
  });

  test('an unreachable vCenter is retryable: exit 1 for the Job backoff, last error recorded for export-status', async () => {
    await api.kube.create({
      apiVersion: API_VERSION,
      kind: 'VmwareSource',
      metadata: { name: 'gone', namespace: 'default' },
      spec: { endpoint: 'https://127.0.0.1:9/sdk', dc: 'DC0', credentials: { name: 'vsphere-credentials' } },
    });
    const vmImport = await createImport('unreachable', {
      virtualMachineName: 'fn-vm',
      sourceCluster: { name: 'gone', namespace: 'default', kind: 'VmwareSource', apiVersion: API_VERSION },
    });
    const scratch = join(root, 'scratch-unreachable');
    await mkdir(scratch);
    const run = await runExporter(vmImport, scratch, credentialsDir);
    assert.equal(run.exitCode, 1);
    const status = await statusOf('unreachable');
    assert.equal(condition(status, 'VMExportFailed'), undefined);
    const attempt = condition(status, 'ExportAttemptFailed');
    assert.equal(attempt?.status, 'True');
    assert.match(attempt?.message ?? '', /127\.0\.0\.1:9/);
  });
});
