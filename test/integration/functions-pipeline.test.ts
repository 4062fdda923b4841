// The phase functions after the export (images → image-status → vm → vm-status) and cleanup, on a
// real kube-apiserver with Harvester's admission rules (the webhook stand-in,
// local-cluster/runtime/harvester/admission-webhook.ts, of the newest version we claim).
// Harvester's image controller and KubeVirt are played by the test here (it writes their status
// fields and the image finalizer as they do); the local-cluster end-to-end tests use the stand-ins.
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
import type { SourceVm } from '../../functions/shared/sources/types.ts';
import { imagesStep } from '../../functions/images/index.ts';
import { imageStatusStep } from '../../functions/image-status/index.ts';
import { vmStep } from '../../functions/vm/index.ts';
import { vmStatusStep } from '../../functions/vm-status/index.ts';
import { cleanupStep } from '../../functions/cleanup/index.ts';
import { apiServerEvent, noContext, startTestApi, type TestApi } from '../support/cluster-api.ts';
import { Kube, type Obj } from '../../functions/shared/kube/client.ts';
import {
  startHarvesterWebhook,
  type HarvesterWebhook,
} from '../../local-cluster/runtime/harvester/admission-webhook.ts';
import {
  harvesterBehaviour,
  DEFAULT_HARVESTER_VERSION,
} from '../../local-cluster/runtime/harvester/versions.ts';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { mkdtemp } from 'node:fs/promises';

let webhook: HarvesterWebhook;
/** Harvester's image controller holds this finalizer (wrangler OnRemove "vm-image-controller"). */
const IMAGE_FINALIZER = 'wrangler.cattle.io/vm-image-controller';

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
async function exportedImport(
  name: string,
  extraSpec: Record<string, unknown> = {},
  source: SourceVm = sourceVm,
): Promise<void> {
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
    data: { 'vm.json': JSON.stringify(source) },
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

/** The import's images; those Harvester is still deleting (its finalizer) only with `all`. */
const imagesOf = async (name: string, all = false) => {
  const uid = (await get(name)).metadata!.uid!;
  const images = await api.kube.list<Obj>(
    'harvesterhci.io/v1beta1',
    'VirtualMachineImage',
    NS,
    `migration.harvesterhci.io/import-uid=${uid}`,
  );
  return all ? images : images.filter((i) => !i.metadata?.deletionTimestamp);
};

/** Harvester's image controller finishes a deletion: removes its finalizer. */
async function harvesterReleases(image: Obj) {
  const fresh = await api.kube.find<Obj>(
    'harvesterhci.io/v1beta1',
    'VirtualMachineImage',
    NS,
    image.metadata!.name!,
  );
  if (!fresh) return;
  await api.kube.replace({
    ...fresh,
    metadata: {
      ...fresh.metadata,
      finalizers: (fresh.metadata!.finalizers ?? []).filter((f) => f !== IMAGE_FINALIZER),
    },
  });
}

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
  const finalizers = [...new Set([...(fresh.metadata!.finalizers ?? []), IMAGE_FINALIZER])];
  await api.kube.replace({ ...fresh, metadata: { ...fresh.metadata, finalizers }, status });
}

describe('pipeline functions after the export, on a real kube-apiserver', () => {
  before(async () => {
    api = await startTestApi();
    webhook = await startHarvesterWebhook({
      kube: Kube.fromFile(api.kubeconfigPath),
      harvester: harvesterBehaviour(DEFAULT_HARVESTER_VERSION),
      dir: await mkdtemp(join(tmpdir(), 'harvester-webhook-')),
    });
    await api.kube.create({
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: {
        name: 'harvester-longhorn',
        annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' },
      },
      provisioner: 'driver.longhorn.io',
      parameters: { numberOfReplicas: '3' },
    } as Obj);
    await api.kube.create({
      apiVersion: 'k8s.cni.cncf.io/v1',
      kind: 'NetworkAttachmentDefinition',
      metadata: { name: 'vlan1', namespace: NS },
      spec: { config: '{}' },
    });
  });
  after(async () => {
    await webhook?.stop();
    await api?.close();
  });

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
    await exportedImport(
      'halted',
      { startVirtualMachine: false, targetName: 'halted-vm' },
      { ...sourceVm, nics: [] },
    );
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

  test('vm-status releases the images although Harvester wrote them since they were read: no 409 goes back to Knative', async () => {
    await exportedImport('busy', { targetName: 'busy-vm' }, { ...sourceVm, nics: [] });
    await submitImages('busy');
    for (const image of await imagesOf('busy')) await harvesterReports(image, 'imported');
    assert.equal((await run(imageStatusStep, 'busy')).importStatus, 'diskImagesReady');
    assert.equal((await run(vmStep, 'busy')).importStatus, 'virtualMachineCreated');
    const vm = await api.kube.get<any>('kubevirt.io/v1', 'VirtualMachine', NS, 'busy-vm');
    await api.kube.replaceStatus(
      { ...vm, status: { ready: true, printableStatus: 'Running' } },
      'virtualmachines',
    );
    // Harvester's image controller writes each image's status right after vm-status listed them
    // (on a real cluster it does so at any moment), so what vm-status read is stale.
    const racing = new Proxy(api.kube, {
      get(target, prop, receiver) {
        if (prop !== 'list') return Reflect.get(target, prop, receiver);
        return async (...args: Parameters<typeof target.list>) => {
          const items = await target.list(...args);
          if (args[1] === 'VirtualMachineImage')
            for (const image of items) await harvesterReports(image as Obj, 'imported');
          return items;
        };
      },
    });
    await phaseFunction('vm-status', vmStatusStep, { kube: racing })(
      noContext,
      apiServerEvent(await get('busy')),
    );
    assert.equal((await statusOf('busy')).importStatus, 'virtualMachineRunning');
    for (const image of await imagesOf('busy'))
      assert.equal(image.metadata!.ownerReferences?.length ?? 0, 0, 'images outlive the import');
  });

  test('two imports that chose the same VM name: the second to create renames, each VM gets its own volumes', async () => {
    for (const [i, name] of ['twin-a', 'twin-b'].entries()) {
      // different source VMs of one name (Harvester ≥ 1.5 refuses two VMs with one MAC)
      await exportedImport(
        name,
        {},
        {
          ...sourceVm,
          nics: sourceVm.nics.map((n) => ({ ...n, mac: n.mac!.replace(/..$/, `1${i}`) })),
        },
      );
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
      const vmImport = await get(name);
      const vmName = (vmImport.status as VirtualMachineImportStatus).importedVirtualMachineName!;
      const vm = await api.kube.get<any>('kubevirt.io/v1', 'VirtualMachine', NS, vmName);
      assert.equal(vm.metadata.labels['migration.harvesterhci.io/import-uid'], vmImport.metadata!.uid);
      for (const v of vm.spec.template.spec.volumes) {
        const claim = await api.kube.get<Obj>(
          'v1',
          'PersistentVolumeClaim',
          NS,
          v.persistentVolumeClaim.claimName,
        );
        assert.equal(claim.metadata!.labels!['migration.harvesterhci.io/import-uid'], vmImport.metadata!.uid);
      }
    }
  });

  test('a failed image is resubmitted a bounded number of times while Harvester still holds the failed one, then the import fails with its message', async () => {
    process.env.IMAGE_RESUBMIT_LIMIT = '2';
    await exportedImport('flaky');
    await submitImages('flaky');
    for (let attempt = 1; attempt <= 3; attempt++) {
      const images = await imagesOf('flaky');
      assert.equal(images.length, 2);
      for (const image of images) await harvesterReports(image, 'failed');
      let status = await run(imageStatusStep, 'flaky');
      assert.equal(status.importStatus, 'diskImageFailed');
      status = await run(imageStatusStep, 'flaky');
      if (attempt < 3) {
        assert.equal(status.importStatus, 'diskImageSubmitted', `resubmitted (attempt ${attempt + 1})`);
        const fresh = await imagesOf('flaky');
        assert.ok(
          fresh.every(
            (i) => i.metadata!.labels!['migration.harvesterhci.io/attempt'] === String(attempt + 1),
          ),
        );
        const names = new Set(
          (await imagesOf('flaky', true)).map((i) => (i.spec as { displayName: string }).displayName),
        );
        assert.equal(names.size, (await imagesOf('flaky', true)).length, 'every image its own display name');
        // a late duplicate event creates nothing more
        await run(imageStatusStep, 'flaky');
        assert.equal((await imagesOf('flaky')).length, 2);
      } else {
        assert.equal(status.importStatus, 'VMMigrationFailed');
        const message = status.importConditions?.find((c) => c.type === 'DiskImagesReady')?.message ?? '';
        assert.match(message, /connection reset by peer/);
        assert.match(message, /after 3 attempts/);
      }
    }
    // the failed images of earlier attempts are still there, held by Harvester's finalizer
    assert.ok((await imagesOf('flaky', true)).some((i) => i.metadata?.deletionTimestamp));
    delete process.env.IMAGE_RESUBMIT_LIMIT;
  });

  test('an image a duplicate delivery submitted beside the one the status records is deleted', async () => {
    await exportedImport('twice');
    await submitImages('twice');
    // What the losing delivery of two handled at once leaves (each submitted attempt 1 of disk 1;
    // the other's status write won): a second image of the disk, the recorded one's attempt.
    const recorded = (await statusOf('twice')).diskImportStatus!;
    const [orphan] = (await imagesOf('twice')).filter(
      (i) => i.metadata!.name === recorded[1]!.VirtualMachineImage,
    );
    // (Both passed Harvester's display-name check, which reads an informer cache; here, one API
    // server and no race, the copy needs a display name of its own to be admitted.)
    const spec = orphan!.spec as { displayName: string };
    await api.kube.create<Obj>({
      apiVersion: orphan!.apiVersion,
      kind: orphan!.kind,
      metadata: {
        generateName: 'image-',
        namespace: NS,
        labels: {
          ...orphan!.metadata!.labels,
          'harvesterhci.io/imageDisplayName': `${spec.displayName}-twin`,
        },
        ownerReferences: orphan!.metadata!.ownerReferences,
      },
      spec: { ...spec, displayName: `${spec.displayName}-twin` },
    } as Obj);
    assert.equal((await imagesOf('twice')).length, 3);
    const status = await run(imageStatusStep, 'twice');
    assert.deepEqual(
      (await imagesOf('twice')).map((i) => i.metadata!.name!).sort(),
      (status.diskImportStatus ?? []).map((d) => d.VirtualMachineImage).sort(),
    );
  });

  test('images of a Longhorn v2 or third-party class use the cdi backend in that class; the VM gets a clone of the image volume, of its volume mode and exactly its size', async () => {
    // CDI's claim of each image as its StorageProfile renders it (containerized-data-importer
    // pkg/storagecapabilities: Longhorn with migratable → ReadWriteMany Block at exactly the
    // DataVolume's size; a Filesystem class → the size plus the filesystem overhead, pkg/util
    // GetRequiredSpace). Longhorn's CSI CreateVolume refuses a clone of another size
    // (csi/controller_server.go), external-provisioner one of another volume mode.
    for (const [name, provisioner, parameters, volumeMode, capacity] of [
      ['lvm', 'lvm.driver.harvesterhci.io', {}, 'Filesystem', String(Math.ceil(64 * MiB * 1.06))],
      [
        'longhorn-v2',
        'driver.longhorn.io',
        { dataEngine: 'v2', migratable: 'true' },
        'Block',
        String(64 * MiB),
      ],
    ] as const) {
      await api.kube.create({
        apiVersion: 'storage.k8s.io/v1',
        kind: 'StorageClass',
        metadata: { name },
        provisioner,
        parameters,
      } as Obj);
      const vmImport = `on-${name}`;
      await exportedImport(
        vmImport,
        { storageClass: name, targetName: `vm-${name}` },
        { ...sourceVm, nics: [] },
      );
      await submitImages(vmImport);
      const images = await imagesOf(vmImport);
      assert.equal(images.length, 2);
      for (const image of images) {
        assert.equal((image.spec as { backend?: string }).backend, 'cdi', `${name}: backend`);
        assert.equal((image.spec as { targetStorageClassName?: string }).targetStorageClassName, name);
        await harvesterReports(image, 'imported');
        const claim = await api.kube.create<any>({
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          metadata: {
            name: image.metadata!.name,
            namespace: NS,
            labels: { app: 'containerized-data-importer' },
          },
          spec: {
            storageClassName: name,
            accessModes: ['ReadWriteMany'],
            volumeMode,
            resources: { requests: { storage: capacity } },
          },
        } as Obj);
        await api.kube.replaceStatus({
          ...claim,
          status: { phase: 'Bound', accessModes: ['ReadWriteMany'], capacity: { storage: capacity } },
        });
      }
      assert.equal((await run(imageStatusStep, vmImport)).importStatus, 'diskImagesReady');
      assert.equal((await run(vmStep, vmImport)).importStatus, 'virtualMachineCreated');
      const uid = (await get(vmImport)).metadata!.uid;
      const claims = await api.kube.list<any>(
        'v1',
        'PersistentVolumeClaim',
        NS,
        `migration.harvesterhci.io/import-uid=${uid}`,
      );
      assert.equal(claims.length, 2);
      for (const claim of claims) {
        assert.equal(claim.spec.storageClassName, name);
        assert.equal(claim.spec.dataSource.kind, 'PersistentVolumeClaim');
        assert.ok(images.some((i) => i.metadata!.name === claim.spec.dataSource.name));
        assert.equal(claim.spec.volumeMode, volumeMode, `${name}: the clone's volume mode is its source's`);
        assert.equal(
          claim.spec.resources.requests.storage,
          capacity,
          `${name}: the clone is exactly its source's size`,
        );
      }
    }
  });

  test('Harvester 1.4 refuses a backing image on a class that is not Longhorn: the images function fails the import ImageRefused (a phase move its route declares)', async () => {
    await webhook.stop();
    webhook = await startHarvesterWebhook({
      kube: Kube.fromFile(api.kubeconfigPath),
      harvester: harvesterBehaviour('v1.4.0'),
      dir: await mkdtemp(join(tmpdir(), 'harvester-webhook-')),
    });
    try {
      await api.kube.create({
        apiVersion: 'storage.k8s.io/v1',
        kind: 'StorageClass',
        metadata: { name: 'ceph-on-1-4' },
        provisioner: 'rook-ceph.rbd.csi.ceph.com',
        parameters: {},
      } as Obj);
      await exportedImport(
        'on-ceph-1-4',
        { storageClass: 'ceph-on-1-4', targetName: 'vm-ceph-1-4' },
        {
          ...sourceVm,
          nics: [],
        },
      );
      const status = await submitImages('on-ceph-1-4');
      assert.equal(status.importStatus, 'VMMigrationFailed');
      const refused = status.importConditions?.find((c) => c.reason === 'ImageRefused');
      assert.match(refused?.message ?? '', /provisioner of storageClass must be driver\.longhorn\.io/);
    } finally {
      await webhook.stop();
      webhook = await startHarvesterWebhook({
        kube: Kube.fromFile(api.kubeconfigPath),
        harvester: harvesterBehaviour(DEFAULT_HARVESTER_VERSION),
        dir: await mkdtemp(join(tmpdir(), 'harvester-webhook-')),
      });
    }
  });

  test('Harvester 1.2–1.3 images without virtualSize: the volume gets the source disk size, not the qcow2 file size', async () => {
    await exportedImport('old-harvester', { targetName: 'old-harvester-vm' }, { ...sourceVm, nics: [] });
    await submitImages('old-harvester');
    for (const image of await imagesOf('old-harvester')) {
      await harvesterReports(image, 'imported');
      const fresh = await api.kube.get<any>(
        'harvesterhci.io/v1beta1',
        'VirtualMachineImage',
        NS,
        image.metadata!.name!,
      );
      delete fresh.status.virtualSize;
      fresh.status.size = 5 * MiB; // the qcow2 the disk server sent
      await api.kube.replace(fresh);
    }
    assert.equal((await run(imageStatusStep, 'old-harvester')).importStatus, 'diskImagesReady');
    assert.equal((await run(vmStep, 'old-harvester')).importStatus, 'virtualMachineCreated');
    const uid = (await get('old-harvester')).metadata!.uid;
    const claims = await api.kube.list<any>(
      'v1',
      'PersistentVolumeClaim',
      NS,
      `migration.harvesterhci.io/import-uid=${uid}`,
    );
    const sizes = claims.map((c) => Number(c.spec.resources.requests.storage)).sort((a, b) => a - b);
    assert.deepEqual(sizes, [32 * MiB, 64 * MiB]);
  });

  test('importing the same source VM twice: Harvester refuses the duplicate MACs and the second import fails saying why', async () => {
    const mine = {
      ...sourceVm,
      nics: [{ network: 'dvSwitch 1', mac: '00:50:56:aa:bb:01', model: 'virtio' as const }],
    };
    for (const name of ['copy-1', 'copy-2']) {
      await exportedImport(name, { targetName: `${name}-vm` }, mine);
      await submitImages(name);
      for (const image of await imagesOf(name)) await harvesterReports(image, 'imported');
      assert.equal((await run(imageStatusStep, name)).importStatus, 'diskImagesReady');
    }
    assert.equal((await run(vmStep, 'copy-1')).importStatus, 'virtualMachineCreated');
    const second = await run(vmStep, 'copy-2');
    assert.equal(second.importStatus, 'VMMigrationFailed');
    const condition = second.importConditions?.find((c) => c.type === 'VirtualMachineCreated');
    assert.equal(condition?.reason, 'DuplicateMacAddress');
    assert.match(condition?.message ?? '', /00:50:56:aa:bb:01/);
    assert.match(condition?.message ?? '', /keeps its MAC addresses/);
  });

  test('deleting an unfinished import after its VM exists: VM, then volumes, then images (Harvester refuses an image while its volume exists)', async () => {
    await exportedImport('late', { targetName: 'late-vm' }, { ...sourceVm, nics: [] });
    await submitImages('late');
    for (const image of await imagesOf('late')) await harvesterReports(image, 'imported');
    await run(imageStatusStep, 'late');
    assert.equal((await run(vmStep, 'late')).importStatus, 'virtualMachineCreated');
    const uid = (await get('late')).metadata!.uid!;
    const selector = `migration.harvesterhci.io/import-uid=${uid}`;
    const claims = () => api.kube.list<Obj>('v1', 'PersistentVolumeClaim', NS, selector);
    // the volumes are in use, as a running VM's are: the PVC protection finalizer keeps them
    for (const claim of await claims())
      await api.kube.mergePatch({
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name: claim.metadata!.name, namespace: NS, finalizers: ['kubernetes.io/pvc-protection'] },
      });
    await api.kubectl('delete', 'virtualmachineimport.migration', 'late', '--wait=false');
    const cleanup = async () =>
      phaseFunction('cleanup', cleanupStep, { kube: api.kube })(noContext, apiServerEvent(await get('late')));
    for (let i = 0; i < 4; i++) await cleanup(); // duplicate and resync deliveries change nothing
    assert.equal(
      await api.kube.find('kubevirt.io/v1', 'VirtualMachine', NS, 'late-vm'),
      undefined,
      'VM deleted',
    );
    assert.ok(
      (await claims()).every((c) => c.metadata?.deletionTimestamp),
      'volumes terminating',
    );
    assert.equal((await imagesOf('late')).length, 2, 'images kept while their volumes exist');
    // the VM's pods are gone: the PVC controller lets the volumes go
    for (const claim of await claims())
      await api.kube.mergePatch({
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name: claim.metadata!.name, namespace: NS, finalizers: [] },
      });
    await cleanup();
    assert.equal((await imagesOf('late')).length, 0, 'images deleted once the volumes are gone');
    for (const image of await imagesOf('late', true)) await harvesterReleases(image);
    await cleanup();
    assert.equal(
      await api.kube.find(API_VERSION, 'VirtualMachineImport', NS, 'late'),
      undefined,
      'import gone',
    );
  });

  test('deleting an unfinished import removes its images and volumes, then the import is gone', async () => {
    await exportedImport('gone');
    await submitImages('gone');
    assert.equal((await imagesOf('gone')).length, 2);
    const uid = (await get('gone')).metadata!.uid!;
    await api.kubectl('delete', 'virtualmachineimport.migration', 'gone', '--wait=false');
    // one deletion stage per delivery: the images, then the rest and the finalizer
    for (let i = 0; i < 2; i++) {
      const vmImport = await api.kube.find(API_VERSION, 'VirtualMachineImport', NS, 'gone');
      if (vmImport)
        await phaseFunction('cleanup', cleanupStep, { kube: api.kube })(noContext, apiServerEvent(vmImport));
    }
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
