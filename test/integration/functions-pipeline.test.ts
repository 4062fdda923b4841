// The phase functions after the export (images → image-status → vm → vm-status) and cleanup, on the
// embedded API server. Harvester's image controller and KubeVirt are played by the test here (it
// writes their status fields as they do); the local-cluster end-to-end tests use the stand-ins.
import type { FunctionName } from '../../events/routing.ts';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  API_VERSION,
  isTerminalImport,
  type VirtualMachineImportStatus,
} from '../../functions/shared/api/index.ts';
import { phaseFunction, type ImportStep } from '../../functions/shared/phase-function.ts';
import { importObjectNames } from '../../functions/shared/import-objects.ts';
import type { Obj } from '../../functions/shared/kube/client.ts';
import type { SourceVm } from '../../functions/shared/sources/types.ts';
import { imagesStep } from '../../functions/images/index.ts';
import { imageStatusStep } from '../../functions/image-status/index.ts';
import { vmStep } from '../../functions/vm/index.ts';
import { vmStatusStep } from '../../functions/vm-status/index.ts';
import { cleanupStep } from '../../functions/cleanup/index.ts';
import { apiServerEvent, noContext, startTestApi, type TestApi } from '../support/cluster-api.ts';

let api: TestApi;
const NS = 'default';
const MiB = 1024 * 1024;

const sourceVm: SourceVm = {
  name: 'web-01',
  cpu: { sockets: 2, cores: 1, threads: 1 },
  memoryMiB: 512,
  firmware: { type: 'efi', secureBoot: true, tpm: false },
  disks: [
    { index: 0, sizeBytes: 64 * MiB, bus: 'scsi', label: 'Hard disk 1' },
    { index: 1, sizeBytes: 32 * MiB, bus: 'sata', label: 'Hard disk 2' },
  ],
  nics: [
    { network: 'dvSwitch 1', mac: '00:50:56:01:02:03', model: 'virtio' },
    { network: 'VM Network', mac: '00:50:56:01:02:04', model: 'e1000' },
  ],
};

const get = (name: string) => api.kube.get(API_VERSION, 'VirtualMachineImport', NS, name);
const statusOf = async (name: string) => (await get(name)).status as VirtualMachineImportStatus;

/** The function each step belongs to: the frame applies that function's phase guard. */
const FUNCTION_OF = new Map<ImportStep, FunctionName>([
  [imagesStep, 'images'],
  [imageStatusStep, 'image-status'],
  [vmStep, 'vm'],
  [vmStatusStep, 'vm-status'],
]);

async function run(step: ImportStep, name: string) {
  await phaseFunction(FUNCTION_OF.get(step)!, step, { kube: api.kube })(
    noContext,
    apiServerEvent(await get(name)),
  );
  return statusOf(name);
}

/** An import whose export finished: status disksExported, the source VM description stored. */
async function exportedImport(name: string, extraSpec: Record<string, unknown> = {}): Promise<void> {
  const created = await api.kube.create<Obj>({
    apiVersion: API_VERSION,
    kind: 'VirtualMachineImport',
    metadata: { name, namespace: NS, finalizers: ['migration.harvesterhci.io/vm-import'] },
    spec: {
      virtualMachineName: 'Web_01',
      networkMapping: [{ sourceNetwork: 'dvSwitch 1', destinationNetwork: 'vlan1' }],
      sourceCluster: { name: 'vcsim', namespace: NS, kind: 'VmwareSource', apiVersion: API_VERSION },
      ...extraSpec,
    },
  });
  const disks = sourceVm.disks.map((d) => ({
    diskName: `disk-${d.index}.img`,
    diskSize: d.sizeBytes,
    diskLocalPath: '/scratch',
    busType: d.bus,
    progress: { phase: 'exported', bytesDone: d.sizeBytes, bytesTotal: d.sizeBytes },
  }));
  await api.kube.replaceStatus(
    {
      ...created,
      status: {
        importStatus: 'disksExported',
        importedVirtualMachineName: (extraSpec.targetName as string | undefined) ?? 'web-01',
        diskImportStatus: disks,
      },
    },
    'virtualmachineimports',
  );
  await api.kube.create({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: importObjectNames(name).sourceVm, namespace: NS },
    data: { 'vm.json': JSON.stringify(sourceVm) },
  });
}

/** What the Deployment controller writes once the disk server's pod is ready. */
async function diskServerReady(name: string) {
  const deployment = await api.kube.get<Obj>('apps/v1', 'Deployment', NS, importObjectNames(name).diskServer);
  await api.kube.replaceStatus(
    { ...deployment, status: { replicas: 1, readyReplicas: 1 } } as Obj,
    'deployments',
  );
}

/** images waits for its disk server to serve, then submits the images. */
async function submitImages(name: string) {
  const waiting = await run(imagesStep, name);
  assert.equal(waiting.importStatus, 'disksExported', 'no image before the disk server serves');
  assert.equal((await imagesOf(name)).length, 0);
  await diskServerReady(name);
  return run(imagesStep, name);
}

const imagesOf = async (name: string) => {
  const uid = (await get(name)).metadata!.uid!;
  return api.kube.list<Obj>(
    'harvesterhci.io/v1beta1',
    'VirtualMachineImage',
    NS,
    `migration.harvesterhci.io/import-uid=${uid}`,
  );
};

/** What Harvester's image controller writes when a download succeeded or failed for good. */
async function harvesterReports(image: Obj, outcome: 'imported' | 'failed') {
  const now = new Date().toISOString();
  const status =
    outcome === 'imported'
      ? {
          progress: 100,
          size: 64 * MiB,
          virtualSize: 64 * MiB,
          storageClassName: `longhorn-${image.metadata!.name}`,
          conditions: [
            { type: 'Initialized', status: 'True', lastUpdateTime: now },
            { type: 'Imported', status: 'True', lastUpdateTime: now },
          ],
        }
      : {
          progress: 0,
          failed: 4,
          conditions: [
            { type: 'Initialized', status: 'True', lastUpdateTime: now },
            {
              type: 'Imported',
              status: 'False',
              reason: 'RetryLimitExceeded',
              message: 'download failed: read: connection reset by peer',
              lastUpdateTime: now,
            },
            {
              type: 'RetryLimitExceeded',
              status: 'True',
              message: 'download failed: read: connection reset by peer',
              lastUpdateTime: now,
            },
          ],
        };
  // Harvester's VirtualMachineImage CRD has no status subresource: the controller updates the object.
  const fresh = await api.kube.get<Obj>(
    'harvesterhci.io/v1beta1',
    'VirtualMachineImage',
    NS,
    image.metadata!.name!,
  );
  await api.kube.replace({ ...fresh, status });
}

describe('pipeline functions after the export, on a real kube-apiserver', () => {
  before(async () => {
    api = await startTestApi();
    await api.kube.create({
      apiVersion: 'k8s.cni.cncf.io/v1',
      kind: 'NetworkAttachmentDefinition',
      metadata: { name: 'vlan1', namespace: NS },
      spec: { config: '{}' },
    });
  });
  after(async () => api?.close());

  test('images → image-status → vm → vm-status reaches virtualMachineRunning, idempotently', async () => {
    await exportedImport('web');
    let status = await submitImages('web');
    assert.equal(status.importStatus, 'diskImageSubmitted');
    assert.equal((await imagesOf('web')).length, 2);
    await run(imagesStep, 'web'); // a late duplicate event creates nothing more
    assert.equal((await imagesOf('web')).length, 2);
    const names = importObjectNames('web');
    const service = await api.kube.get<Obj>('v1', 'Service', NS, names.diskServer);
    const token = service.metadata!.annotations!['migration.harvesterhci.io/disk-path-token']!;
    assert.ok(token.length >= 32);
    const images = await imagesOf('web');
    for (const image of images) {
      const url = (image.spec as { url: string }).url;
      assert.match(url, new RegExp(`^http://${names.diskServer}\\.default\\.svc/${token}/disk-[01]\\.img$`));
      assert.equal(image.metadata!.ownerReferences?.[0]?.kind, 'VirtualMachineImport');
    }

    status = await run(imageStatusStep, 'web');
    assert.equal(status.importStatus, 'diskImageSubmitted', 'images still importing');
    await harvesterReports(images[0]!, 'imported');
    status = await run(imageStatusStep, 'web');
    assert.equal(status.importStatus, 'diskImageSubmitted');
    assert.equal(
      status.diskImportStatus?.find((d) => d.VirtualMachineImage === images[0]!.metadata!.name)?.progress
        ?.phase,
      'ready',
    );
    await harvesterReports(images[1]!, 'imported');
    status = await run(imageStatusStep, 'web');
    assert.equal(status.importStatus, 'diskImagesReady');
    assert.equal(status.progress, 90);

    status = await run(vmStep, 'web');
    assert.equal(status.importStatus, 'virtualMachineCreated');
    const vm = await api.kube.get<any>('kubevirt.io/v1', 'VirtualMachine', NS, 'web-01');
    const domain = vm.spec.template.spec.domain;
    assert.deepEqual(domain.cpu, { sockets: 2, cores: 1, threads: 1 });
    assert.equal(domain.memory.guest, '512Mi');
    assert.deepEqual(
      domain.devices.disks.map((d: any) => Object.keys(d.disk)[0] ?? d.disk.bus),
      ['scsi', 'sata'].map(() => 'bus'),
    );
    assert.deepEqual(
      domain.devices.disks.map((d: any) => d.disk.bus),
      ['scsi', 'sata'],
    );
    const macs = domain.devices.interfaces.map((i: any) => i.macAddress);
    assert.deepEqual(macs.sort(), ['00:50:56:01:02:03', '00:50:56:01:02:04'], 'no NIC is lost');
    const claims = await api.kube.list<Obj>(
      'v1',
      'PersistentVolumeClaim',
      NS,
      `migration.harvesterhci.io/import-uid=${(await get('web')).metadata!.uid}`,
    );
    assert.equal(claims.length, 2);
    assert.equal(await api.kube.find('v1', 'Service', NS, names.diskServer), undefined, 'disk server freed');
    const created = status.importConditions?.find((c) => c.type === 'VirtualMachineCreated');
    assert.match(created?.message ?? '', /VM Network.*pod network|pod network.*VM Network/i);

    status = await run(vmStatusStep, 'web');
    assert.equal(status.importStatus, 'virtualMachineCreated');
    await api.kube.replaceStatus(
      { ...vm, status: { ready: true, printableStatus: 'Running' } },
      'virtualmachines',
    );
    status = await run(vmStatusStep, 'web');
    assert.equal(status.importStatus, 'virtualMachineRunning');
    assert.equal(status.progress, 100);
    for (const image of await imagesOf('web'))
      assert.equal(image.metadata!.ownerReferences?.length ?? 0, 0, 'images outlive the import');
  });

  test('startVirtualMachine: false creates the VM Halted; the import ends in virtualMachineCreated, CreatedStopped', async () => {
    await exportedImport('halted', { startVirtualMachine: false, targetName: 'halted-vm' });
    await submitImages('halted');
    for (const image of await imagesOf('halted')) await harvesterReports(image, 'imported');
    let status = await run(imageStatusStep, 'halted');
    assert.equal(status.importStatus, 'diskImagesReady');
    status = await run(vmStep, 'halted');
    assert.equal(status.importStatus, 'virtualMachineCreated');
    const vm = await api.kube.get<any>('kubevirt.io/v1', 'VirtualMachine', NS, 'halted-vm');
    assert.equal(vm.spec.runStrategy, 'Halted');
    assert.ok(!isTerminalImport(status), 'not finished before KubeVirt reports the VM');
    status = await run(vmStatusStep, 'halted');
    assert.ok(!isTerminalImport(status));
    // what KubeVirt writes for a VM with runStrategy Halted
    await api.kube.replaceStatus(
      { ...vm, status: { ready: false, created: false, printableStatus: 'Stopped' } },
      'virtualmachines',
    );
    status = await run(vmStatusStep, 'halted');
    assert.equal(status.importStatus, 'virtualMachineCreated');
    const started = status.importConditions?.find((c) => c.type === 'VirtualMachineStarted');
    assert.equal(started?.status, 'False');
    assert.equal(started?.reason, 'CreatedStopped');
    assert.match(started?.message ?? '', /virtctl start halted-vm/);
    assert.ok(isTerminalImport(status));
    for (const image of await imagesOf('halted'))
      assert.equal(image.metadata!.ownerReferences?.length ?? 0, 0, 'images outlive the import');
    const events = await api.kube.list<Obj>('v1', 'Event', NS);
    assert.ok(events.some((e) => (e as { reason?: string }).reason === 'CreatedStopped'));
    // a late event changes nothing
    const before = JSON.stringify(status);
    assert.equal(JSON.stringify(await run(vmStatusStep, 'halted')), before);
  });

  test('two imports that chose the same VM name: the second to create renames, each VM gets its own volumes', async () => {
    for (const name of ['twin-a', 'twin-b']) {
      await exportedImport(name);
      const fresh = await get(name);
      await api.kube.replaceStatus(
        {
          ...fresh,
          status: { ...(fresh.status as VirtualMachineImportStatus), importedVirtualMachineName: 'twin' },
        },
        'virtualmachineimports',
      );
      await submitImages(name);
      for (const image of await imagesOf(name)) await harvesterReports(image, 'imported');
      assert.equal((await run(imageStatusStep, name)).importStatus, 'diskImagesReady');
    }
    assert.equal((await run(vmStep, 'twin-a')).importStatus, 'virtualMachineCreated');
    let b = await run(vmStep, 'twin-b');
    assert.equal(b.importStatus, 'diskImagesReady', 'still before the VM');
    assert.notEqual(b.importedVirtualMachineName, 'twin');
    assert.match(b.importedVirtualMachineName ?? '', /^web-01-[0-9a-f]{6}$/);
    const renamed = b.importConditions?.find((c) => c.type === 'VirtualMachineCreated');
    assert.equal(renamed?.reason, 'VirtualMachineRenamed');
    b = await run(vmStep, 'twin-b');
    assert.equal(b.importStatus, 'virtualMachineCreated');
    for (const name of ['twin-a', 'twin-b']) {
      const imp = await get(name);
      const vmName = (imp.status as VirtualMachineImportStatus).importedVirtualMachineName!;
      const vm = await api.kube.get<any>('kubevirt.io/v1', 'VirtualMachine', NS, vmName);
      assert.equal(vm.metadata.labels['migration.harvesterhci.io/import-uid'], imp.metadata!.uid);
      for (const v of vm.spec.template.spec.volumes) {
        const claim = await api.kube.get<Obj>(
          'v1',
          'PersistentVolumeClaim',
          NS,
          v.persistentVolumeClaim.claimName,
        );
        assert.equal(claim.metadata!.labels!['migration.harvesterhci.io/import-uid'], imp.metadata!.uid);
      }
    }
  });

  test('a failed image is resubmitted a bounded number of times, then the import fails with its message', async () => {
    process.env.IMAGE_RESUBMIT_LIMIT = '1';
    await exportedImport('flaky');
    await submitImages('flaky');
    for (let attempt = 1; attempt <= 2; attempt++) {
      const images = await imagesOf('flaky');
      assert.equal(images.length, 2);
      for (const image of images) await harvesterReports(image, 'failed');
      let status = await run(imageStatusStep, 'flaky');
      assert.equal(status.importStatus, 'diskImageFailed');
      status = await run(imageStatusStep, 'flaky');
      if (attempt === 1) {
        assert.equal(status.importStatus, 'diskImageSubmitted', 'resubmitted once');
        const fresh = await imagesOf('flaky');
        assert.ok(fresh.every((i) => i.metadata!.labels!['migration.harvesterhci.io/attempt'] === '2'));
      } else {
        assert.equal(status.importStatus, 'VMMigrationFailed');
        assert.match(
          status.importConditions?.find((c) => c.type === 'DiskImagesReady')?.message ?? '',
          /connection reset by peer/,
        );
      }
    }
    delete process.env.IMAGE_RESUBMIT_LIMIT;
  });

  test('deleting an unfinished import removes its images and volumes, then the import is gone', async () => {
    await exportedImport('gone');
    await submitImages('gone');
    assert.equal((await imagesOf('gone')).length, 2);
    const uid = (await get('gone')).metadata!.uid!;
    await api.kubectl('delete', 'virtualmachineimport.migration', 'gone', '--wait=false');
    await phaseFunction('cleanup', cleanupStep, { kube: api.kube })(
      noContext,
      apiServerEvent(await get('gone')),
    );
    assert.equal(await api.kube.find(API_VERSION, 'VirtualMachineImport', NS, 'gone'), undefined);
    const left = await api.kube.list<Obj>(
      'harvesterhci.io/v1beta1',
      'VirtualMachineImage',
      NS,
      `migration.harvesterhci.io/import-uid=${uid}`,
    );
    assert.equal(left.filter((i) => !i.metadata?.deletionTimestamp).length, 0);
    assert.equal(await api.kube.find('v1', 'Service', NS, importObjectNames('gone').diskServer), undefined);
  });
});
