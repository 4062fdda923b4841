// The steps of the seed test plan (../shared/seeds 001, "Proposed Base tests") that no other
// end-to-end test covers, one test each, named after the step, on one local cluster (boots are
// slow under load): delete after success keeps VM, volumes and images; the same for a
// multi-import YAML; remove the VMs and their disks, then re-create the imports; quick cancel of
// an OpenStack or vSphere import during download; the default StorageClass (both sources); a
// bogus source network with skipPreflightChecks; an OpenStack server without disks; a
// powered-off VMware VM leaves no failed task in vCenter. And the safety features of issue 23:
// guest-OS device choice, a VM created stopped, the source powered back on, the space check.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startLocalCluster, type LocalCluster } from '../../local-cluster/cluster.ts';
import { applyExampleSources, sameDisk, waitForImports } from '../support/e2e.ts';
import { importStatus } from '../../local-cluster/import-status.ts';
import { setOpenstackSimulatorFaults } from '../support/openstack.ts';
import { openstackServerStatus, vmwarePowerStateOf } from '../support/source-power.ts';
import { vmwareTasksOf } from '../support/vmware-tasks.ts';

let cluster: LocalCluster;
let stateDir: string;

const MULTI_BY_UUID = 'bbbbbbbb-2222-4222-8222-000000000002';
const inventory = {
  vmware: {
    datacenter: 'DC0',
    networks: [
      { name: 'VM Network', type: 'standard' },
      { name: 'dvSwitch 1', type: 'distributed' },
    ],
    vms: [
      {
        name: 'linux-vm',
        guestId: 'otherLinux64Guest',
        shutdownSeconds: 0.5,
        disks: [{ sizeMiB: 8, controller: 'pvscsi', allocatedPercent: 50, seed: 41 }],
        nics: [{ network: 'dvSwitch 1', type: 'vmxnet3', mac: '00:50:56:0b:00:01' }],
      },
      {
        name: 'windows-pvscsi',
        guestId: 'windows2019srv_64Guest',
        shutdownSeconds: 0.5,
        disks: [{ sizeMiB: 8, controller: 'pvscsi', allocatedPercent: 50, seed: 42 }],
        nics: [{ network: 'VM Network', type: 'vmxnet3', mac: '00:50:56:0b:00:02' }],
      },
      {
        name: 'windows-with-drivers',
        guestId: 'windows2019srv_64Guest',
        shutdownSeconds: 0.5,
        disks: [{ sizeMiB: 8, controller: 'pvscsi', allocatedPercent: 50, seed: 43 }],
        nics: [{ network: 'VM Network', type: 'vmxnet3', mac: '00:50:56:0b:00:03' }],
      },
      {
        name: 'delete-on',
        guestId: 'otherLinux64Guest',
        shutdownSeconds: 0.5,
        // Large enough that its export is still running when the test deletes the import, also
        // on a quiet machine.
        disks: [{ sizeMiB: 1536, controller: 'pvscsi', allocatedPercent: 100, seed: 44 }],
        nics: [],
      },
      {
        name: 'delete-off',
        guestId: 'otherLinux64Guest',
        powerState: 'poweredOff',
        // As delete-on: still exporting when the test deletes the import (a CI run saw 256 MiB
        // reach VirtualMachineCreated first).
        disks: [{ sizeMiB: 1536, controller: 'pvscsi', allocatedPercent: 100, seed: 45 }],
        nics: [],
      },
      // "Test Multiple VM Import From VMWare": mixed settings
      {
        name: 'multi-vm-disks',
        guestId: 'otherLinux64Guest',
        shutdownSeconds: 0.5,
        cpus: 2,
        memoryMiB: 256,
        disks: [
          { sizeMiB: 8, controller: 'pvscsi', allocatedPercent: 40, seed: 61 },
          { sizeMiB: 12, controller: 'sata', allocatedPercent: 30, seed: 62 },
        ],
        nics: [{ network: 'dvSwitch 1', type: 'vmxnet3', mac: '00:50:56:0b:00:11' }],
      },
      {
        name: 'multi-vm-nics',
        guestId: 'otherLinux64Guest',
        shutdownSeconds: 0.5,
        cpus: 1,
        memoryMiB: 128,
        disks: [{ sizeMiB: 8, controller: 'pvscsi', allocatedPercent: 40, seed: 63 }],
        nics: [
          { network: 'dvSwitch 1', type: 'vmxnet3', mac: '00:50:56:0b:00:12' },
          { network: 'VM Network', type: 'e1000', mac: '00:50:56:0b:00:13' },
        ],
      },
      {
        name: 'multi-vm-off',
        guestId: 'otherLinux64Guest',
        powerState: 'poweredOff',
        cpus: 1,
        memoryMiB: 128,
        disks: [{ sizeMiB: 8, controller: 'lsilogic', allocatedPercent: 40, seed: 64 }],
        nics: [{ network: 'VM Network', type: 'vmxnet3', mac: '00:50:56:0b:00:14' }],
      },
      {
        name: 'powered-off-vm',
        guestId: 'otherLinux64Guest',
        powerState: 'poweredOff',
        disks: [{ sizeMiB: 8, controller: 'pvscsi', allocatedPercent: 50, seed: 47 }],
        nics: [{ network: 'VM Network', type: 'vmxnet3', mac: '00:50:56:0b:00:04' }],
      },
      {
        // Big enough that its download is still running when the import is deleted
        name: 'quick-cancel-vm',
        guestId: 'otherLinux64Guest',
        shutdownSeconds: 0.5,
        disks: [{ sizeMiB: 1024, controller: 'pvscsi', allocatedPercent: 60, seed: 48 }],
        nics: [],
      },
      {
        name: 'default-class-vm',
        guestId: 'otherLinux64Guest',
        shutdownSeconds: 0.5,
        disks: [{ sizeMiB: 8, controller: 'pvscsi', allocatedPercent: 20, seed: 49 }],
        nics: [],
      },
      {
        name: 'capacity-vm',
        guestId: 'otherLinux64Guest',
        disks: [{ sizeMiB: 64, controller: 'pvscsi', allocatedPercent: 10, seed: 46 }],
        nics: [],
      },
    ],
  },
  openstack: {
    region: 'RegionOne',
    networks: ['shared', 'public'],
    servers: [
      {
        name: 'multi-two-disks',
        status: 'ACTIVE',
        flavor: { vcpus: 1, ramMiB: 256 },
        volumes: [
          {
            sizeMiB: 8,
            bootable: true,
            allocatedPercent: 30,
            seed: 51,
            imageProperties: { os_type: 'linux' },
          },
          { sizeMiB: 8, bootable: false, allocatedPercent: 10, seed: 52 },
        ],
        ports: [{ network: 'shared', mac: 'fa:16:3e:0b:00:01' }],
      },
      {
        name: 'multi-two-nics',
        id: MULTI_BY_UUID,
        status: 'ACTIVE',
        flavor: { vcpus: 1, ramMiB: 256 },
        volumes: [{ sizeMiB: 8, bootable: true, allocatedPercent: 30, seed: 53 }],
        ports: [
          { network: 'shared', mac: 'fa:16:3e:0b:00:02' },
          { network: 'public', mac: 'fa:16:3e:0b:00:03' },
        ],
      },
      {
        name: 'multi-three',
        status: 'SHUTOFF',
        flavor: { vcpus: 2, ramMiB: 256 },
        volumes: [{ sizeMiB: 8, bootable: true, allocatedPercent: 30, seed: 54 }],
        ports: [{ network: 'shared', mac: 'fa:16:3e:0b:00:04' }],
      },
      {
        // A live image without a volume: nothing to import
        name: 'no-disks',
        status: 'ACTIVE',
        flavor: { vcpus: 1, ramMiB: 256 },
        volumes: [],
        bootFromImage: false,
        ports: [{ network: 'shared' }],
      },
      {
        name: 'bogus-network',
        status: 'SHUTOFF',
        flavor: { vcpus: 1, ramMiB: 256 },
        volumes: [{ sizeMiB: 8, bootable: true, allocatedPercent: 20, seed: 55 }],
        ports: [{ network: 'shared', mac: 'fa:16:3e:0b:00:05' }],
      },
      {
        name: 'default-class',
        status: 'SHUTOFF',
        flavor: { vcpus: 1, ramMiB: 256 },
        volumes: [{ sizeMiB: 8, bootable: true, allocatedPercent: 20, seed: 56 }],
        ports: [],
      },
      {
        // Its volume upload is killed (simulator fault) after the import stopped it
        name: 'fails-after-stop',
        status: 'ACTIVE',
        flavor: { vcpus: 1, ramMiB: 256 },
        volumes: [{ sizeMiB: 8, bootable: true, allocatedPercent: 20, seed: 59 }],
        ports: [],
      },
      {
        // Big enough that its download is still running when the import is deleted
        name: 'quick-cancel',
        status: 'ACTIVE',
        flavor: { vcpus: 1, ramMiB: 256 },
        volumes: [{ sizeMiB: 1024, bootable: true, allocatedPercent: 60, seed: 57 }],
        ports: [],
      },
    ],
  },
  // The example sources include an OvaSource
  ova: [
    {
      name: 'appliance.ova',
      vm: { cpus: 1, memoryMiB: 128, disks: [{ sizeMiB: 8, controller: 'sata', seed: 58 }], nics: [] },
    },
  ],
};

const API = 'migration.harvesterhci.io/v1beta1';
const vmImport = (
  name: string,
  spec: Record<string, unknown>,
  kind: 'VmwareSource' | 'OpenstackSource' = 'OpenstackSource',
) =>
  stringify({
    apiVersion: API,
    kind: 'VirtualMachineImport',
    metadata: { name, namespace: 'default' },
    spec: {
      sourceCluster: {
        name: kind === 'VmwareSource' ? 'vcsim' : 'devstack',
        namespace: 'default',
        kind,
        apiVersion: API,
      },
      ...spec,
    },
  });

const kubectl = (args: string[], input?: string) => cluster.kubectl(args, input);
const names = async (what: string, selector?: string) =>
  (await kubectl(['get', what, '-o', 'name', ...(selector ? ['-l', selector] : [])]))
    .split('\n')
    .filter(Boolean)
    .sort();
const lastMessage = async (name: string) =>
  (await importStatus(cluster, name)).importConditions?.at(-1)?.message ?? '';
const vmOf = async (name: string) =>
  (await cluster.kube.find('kubevirt.io/v1', 'VirtualMachine', 'default', name)) as any;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const eventsOf = (name: string) =>
  kubectl([
    'get',
    'events',
    '--field-selector',
    `involvedObject.name=${name}`,
    '-o',
    'custom-columns=REASON:.reason',
  ]);
async function until(check: () => Promise<boolean>, what: string, timeoutMs = 300_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, what);
    await sleep(250);
  }
}
const vmware = () => ({ ...cluster.endpoints.vmware!, caCertPem: cluster.endpoints.vmware!.caCert });

/**
 * The plan's quick cancel: "Wait until the download starts (kubectl get virtualmachineimage): as
 * soon as the percentage begins to increase, remove the created YAML"; then "validate that
 * Image(s) is removed & no volumes, disks or vms were created".
 */
async function deleteOnceTheDownloadRuns(name: string) {
  const selector = `migration.harvesterhci.io/import-name=${name}`;
  const deadline = Date.now() + 400_000;
  for (;;) {
    const images = await kubectl([
      'get',
      'virtualmachineimages.harvesterhci.io',
      '-l',
      selector,
      '-o',
      'json',
    ]);
    const progress = (JSON.parse(images).items as any[]).map((i) => i.status?.progress ?? 0);
    if (progress.some((p) => p > 0 && p < 100)) break;
    const s = await importStatus(cluster, name);
    assert.ok(
      ['', 'virtualMachineImportValid', 'sourceReady', 'disksExported', 'diskImageSubmitted'].includes(
        s.importStatus ?? '',
      ),
      `still downloading, not ${s.importStatus} (progress ${progress.join(',')})`,
    );
    assert.ok(Date.now() < deadline, 'the download starts');
    await sleep(150);
  }
  await kubectl(['delete', 'virtualmachineimport.migration', name, '--timeout=180s']);
  assert.deepEqual(await names('virtualmachineimages.harvesterhci.io', selector), [], 'images removed');
  assert.deepEqual(await names('pvc', selector), [], 'no volumes');
  assert.deepEqual(await names('virtualmachines.kubevirt.io', selector), [], 'no VMs');
  assert.deepEqual(await names('jobs', selector), [], 'no export Job');
}

/** The multi-import YAML of the plan's "Test Multiple VM Import From OpenStack". */
const multiYaml = [
  vmImport('multi-by-name', { virtualMachineName: 'multi-two-disks' }),
  vmImport('multi-by-uuid', {
    virtualMachineName: MULTI_BY_UUID,
    networkMapping: [{ sourceNetwork: 'public', destinationNetwork: 'default/vlan1' }],
  }),
  vmImport('multi-three', { virtualMachineName: 'multi-three' }),
].join('---\n');
const MULTI = ['multi-by-name', 'multi-by-uuid', 'multi-three'];

describe('seed test plan steps end to end', () => {
  before(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'vm-import-e2e-plan-'));
    const inventoryFile = join(stateDir, 'inventory.yaml');
    await writeFile(inventoryFile, stringify(inventory));
    cluster = await startLocalCluster({
      stateDir,
      inventoryFile,
      imageRetryDelayMs: 3000,
    });
    await applyExampleSources(cluster, 90);
  });
  after(async () => {
    await cluster?.stop();
    // KEEP_E2E_STATE=1 keeps the cluster's state and logs for a post-mortem.
    if (stateDir && !process.env.KEEP_E2E_STATE) await rm(stateDir, { recursive: true, force: true });
    else if (stateDir) console.log(`# local cluster state and logs kept in ${stateDir}`);
  });

  test('Multiple VM Import From OpenStack: by name and by UUID, two disks, two NICs, all running with volumes of the source size', async () => {
    await kubectl(['apply', '-f', '-'], multiYaml);
    const statuses = await waitForImports(cluster, MULTI, 600_000);
    for (const n of MULTI)
      assert.equal(statuses[n]!.importStatus, 'virtualMachineRunning', `${n}: ${await lastMessage(n)}`);
    assert.equal(statuses['multi-by-name']!.diskImportStatus?.length, 2);
    const byUuid = await vmOf(statuses['multi-by-uuid']!.importedVirtualMachineName!);
    assert.match(statuses['multi-by-uuid']!.importedVirtualMachineName!, /^multi-two-nics/);
    const interfaces = byUuid.spec.template.spec.domain.devices.interfaces;
    assert.equal(interfaces.length, 2, 'both NICs');
    assert.ok(
      interfaces.some((i: any) => i.bridge && i.macAddress === 'fa:16:3e:0b:00:03'),
      'public → vlan1',
    );
    // every volume is the size of its source volume (Cinder: whole GiB)
    for (const n of MULTI)
      for (const d of statuses[n]!.diskImportStatus ?? [])
        assert.equal(d.diskSize, 1024 ** 3, `${n} ${d.diskName}`);
    // "that the VMs in openstack get shutdown if they were powered on" (multi-three was off)
    for (const server of ['multi-two-disks', MULTI_BY_UUID, 'multi-three'])
      assert.equal(await openstackServerStatus(cluster.endpoints.openstack!, server), 'SHUTOFF', server);
  });

  test('Multiple VM Import From OpenStack, "kubectl delete" of the multi-import YAML: VMs, volumes and images are kept', async () => {
    const before = {
      vms: await names('virtualmachines.kubevirt.io'),
      pvcs: await names('pvc'),
      images: await names('virtualmachineimages.harvesterhci.io'),
    };
    assert.ok(before.vms.length >= 3 && before.pvcs.length >= 4 && before.images.length >= 4);
    await kubectl(['delete', '-f', '-', '--timeout=120s'], multiYaml);
    assert.deepEqual(await names('virtualmachineimports.migration'), []);
    assert.deepEqual(await names('virtualmachines.kubevirt.io'), before.vms);
    assert.deepEqual(await names('pvc'), before.pvcs);
    assert.deepEqual(await names('virtualmachineimages.harvesterhci.io'), before.images);
    for (const vm of before.vms)
      assert.equal((await vmOf(vm.split('/')[1]!)).status?.printableStatus, 'Running');
  });

  test('Deleting VM but not image(s) and recreate works (OpenStack): remove the VMs and their volumes, create the YAML again → new images, new volumes, VMs started', async () => {
    const oldImages = await names('virtualmachineimages.harvesterhci.io');
    const oldDisplayNames = new Map<string, string>();
    for (const i of oldImages) {
      const img = (await cluster.kube.find(
        'harvesterhci.io/v1beta1',
        'VirtualMachineImage',
        'default',
        i.split('/')[1]!,
      )) as any;
      oldDisplayNames.set(img.metadata.name, img.spec.displayName);
    }
    // "validate that you can delete the VMs built and their Volumes clean up as well"
    await kubectl(['delete', 'virtualmachines.kubevirt.io', '--all', '--timeout=120s']);
    await kubectl(['delete', 'pvc', '-l', 'migration.harvesterhci.io/import-name', '--timeout=120s']);
    assert.deepEqual(await names('virtualmachines.kubevirt.io'), []);
    assert.deepEqual(await names('pvc', 'migration.harvesterhci.io/import-name'), []);

    await kubectl(['create', '-f', '-'], multiYaml);
    const statuses = await waitForImports(cluster, MULTI, 600_000);
    for (const n of MULTI)
      assert.equal(statuses[n]!.importStatus, 'virtualMachineRunning', `${n}: ${await lastMessage(n)}`);
    const newImages = MULTI.flatMap((n) =>
      (statuses[n]!.diskImportStatus ?? []).map((d) => d.VirtualMachineImage!),
    );
    assert.equal(newImages.length, 4);
    for (const i of newImages) {
      assert.ok(!oldImages.includes(`virtualmachineimage.harvesterhci.io/${i}`), `${i} is a new image`);
      const img = (await cluster.kube.find(
        'harvesterhci.io/v1beta1',
        'VirtualMachineImage',
        'default',
        i,
      )) as any;
      // Harvester keeps display names unique in a namespace: the same name but for the import's
      // short UID hash (and a resubmission's -a<attempt>), since the old images are still there
      const scheme = (d: string) => d.replace(/-[a-z0-9]{5}-disk-(\d+)(-a\d+)?$/, '-disk-$1');
      const old = [...oldDisplayNames.values()].find((d) => scheme(d) === scheme(img.spec.displayName));
      assert.ok(old && old !== img.spec.displayName, `${img.spec.displayName} next to ${old}`);
    }
    assert.equal((await names('pvc', 'migration.harvesterhci.io/import-name')).length, 4, 'volumes rebuilt');
    for (const n of MULTI)
      assert.equal((await vmOf(statuses[n]!.importedVirtualMachineName!)).status?.printableStatus, 'Running');
  });

  test('(Negative) OpenStack server with no disks is not imported', async () => {
    await kubectl(['apply', '-f', '-'], vmImport('no-disks', { virtualMachineName: 'no-disks' }));
    const statuses = await waitForImports(cluster, ['no-disks'], 120_000);
    assert.equal(statuses['no-disks']!.importStatus, 'virtualMachineImportInvalid');
    assert.match(await lastMessage('no-disks'), /neither a root image disk nor attached volumes/);
    assert.deepEqual(
      await names('virtualmachineimages.harvesterhci.io', 'migration.harvesterhci.io/import-name=no-disks'),
      [],
    );
  });

  test('Import of VM with bogus sourceNetwork (OpenStack and VMware, skipPreflightChecks): the NIC is pod-network, virtio, masquerade', async () => {
    const bogus = [{ sourceNetwork: 'no-such-network', destinationNetwork: 'default/vlan1' }];
    await kubectl(
      ['apply', '-f', '-'],
      [
        vmImport('bogus-openstack', {
          virtualMachineName: 'bogus-network',
          networkMapping: bogus,
          skipPreflightChecks: true,
        }),
        vmImport(
          'bogus-vmware',
          { virtualMachineName: 'linux-vm', networkMapping: bogus, skipPreflightChecks: true },
          'VmwareSource',
        ),
      ].join('---\n'),
    );
    const statuses = await waitForImports(cluster, ['bogus-openstack', 'bogus-vmware'], 300_000);
    for (const n of ['bogus-openstack', 'bogus-vmware']) {
      assert.equal(statuses[n]!.importStatus, 'virtualMachineRunning', `${n}: ${await lastMessage(n)}`);
      const spec = (await vmOf(statuses[n]!.importedVirtualMachineName!)).spec.template.spec;
      assert.deepEqual(
        spec.domain.devices.interfaces.map((i: any) => [
          i.name,
          i.model,
          Object.keys(i).includes('masquerade'),
        ]),
        [['pod-network', 'virtio', true]],
      );
      assert.deepEqual(spec.networks, [{ name: 'pod-network', pod: {} }]);
    }
  });

  test('issue 23: a Windows VMware VM with PVSCSI gets a sata disk and an e1000e NIC; with guestHasVirtioDrivers scsi and virtio', async () => {
    await kubectl(
      ['apply', '-f', '-'],
      [
        vmImport('windows-default', { virtualMachineName: 'windows-pvscsi' }, 'VmwareSource'),
        vmImport(
          'windows-drivers',
          { virtualMachineName: 'windows-with-drivers', guestHasVirtioDrivers: true },
          'VmwareSource',
        ),
      ].join('---\n'),
    );
    const statuses = await waitForImports(cluster, ['windows-default', 'windows-drivers'], 300_000);
    const devicesOf = async (n: string) => {
      assert.equal(statuses[n]!.importStatus, 'virtualMachineRunning', `${n}: ${await lastMessage(n)}`);
      const d = (await vmOf(statuses[n]!.importedVirtualMachineName!)).spec.template.spec.domain.devices;
      return [d.disks.map((x: any) => x.disk.bus), d.interfaces.map((x: any) => x.model)];
    };
    assert.deepEqual(await devicesOf('windows-default'), [['sata'], ['e1000e']]);
    assert.deepEqual(await devicesOf('windows-drivers'), [['scsi'], ['virtio']]);
    assert.deepEqual(statuses['windows-default']!.guestOS, {
      family: 'windows',
      id: 'windows2019srv_64Guest',
      name: 'Microsoft Windows Server 2019 (64-bit)',
      detectedFrom: 'vSphere config.guestId',
      virtioDrivers: false,
    });
  });

  test('Multiple VM Import From VMWare: three VMs (two disks, two NICs, one powered off) in one YAML: volumes of the source size, sources shut down, networks mapped, images, VMs running, identical disks', async () => {
    const vms = inventory.vmware.vms.filter((v) => v.name.startsWith('multi-vm-'));
    const mapping = [{ sourceNetwork: 'dvSwitch 1', destinationNetwork: 'default/vlan1' }];
    await kubectl(
      ['apply', '-f', '-'],
      vms
        .map((v) => vmImport(v.name, { virtualMachineName: v.name, networkMapping: mapping }, 'VmwareSource'))
        .join('---\n'),
    );
    const statuses = await waitForImports(
      cluster,
      vms.map((v) => v.name),
      600_000,
    );
    for (const source of vms) {
      const n = source.name;
      const status = statuses[n]!;
      assert.equal(status.importStatus, 'virtualMachineRunning', `${n}: ${await lastMessage(n)}`);
      // "that the VMs in vSphere get shutdown if they were powered on"
      assert.equal(await vmwarePowerStateOf(vmware(), n), 'poweredOff', `${n} is off`);
      const vm = await vmOf(status.importedVirtualMachineName!);
      assert.equal(vm.status?.printableStatus, 'Running', n);
      const domain = vm.spec.template.spec.domain;
      assert.equal(domain.cpu.sockets * domain.cpu.cores, source.cpus, `${n} CPUs`);
      assert.equal(domain.memory.guest, `${source.memoryMiB}Mi`, `${n} memory`);
      // "volumes get built, representing the volumes tied to the instances (same size)" and
      // "images get built representing the volumes"; the data is the source's
      const disks = status.diskImportStatus ?? [];
      assert.equal(disks.length, source.disks.length, `${n} disks`);
      for (const [i, disk] of disks.entries()) {
        const bytes = source.disks[i]!.sizeMiB * 1024 ** 2;
        assert.equal(disk.diskSize, bytes, `${n} disk ${i} size`);
        const pvc = (await cluster.kube.find(
          'v1',
          'PersistentVolumeClaim',
          'default',
          `${status.importedVirtualMachineName}-disk-${i}`,
        )) as any;
        assert.equal(pvc?.spec.resources.requests.storage, String(bytes), `${n} volume ${i} size`);
        const image = join(stateDir, 'harvester', 'images', 'default', `${disk.VirtualMachineImage}.raw`);
        const raw = join(stateDir, 'sources', 'vmware', n, `disk-${i}.raw`);
        assert.ok(await sameDisk(image, raw), `${n} disk ${i} identical to its source`);
      }
      // "that the networking mapping is appropriate": dvSwitch 1 → vlan1, the rest on the
      // management (pod) network
      const networks = new Map<string, any>(vm.spec.template.spec.networks.map((x: any) => [x.name, x]));
      const byMac = new Map<string, any>(domain.devices.interfaces.map((x: any) => [x.macAddress, x]));
      for (const nic of source.nics) {
        const iface = byMac.get(nic.mac);
        assert.ok(iface, `${n} keeps MAC ${nic.mac}`);
        const network = networks.get(iface.name);
        if (nic.network === 'dvSwitch 1')
          assert.equal(network?.multus?.networkName, 'default/vlan1', nic.mac);
        else assert.deepEqual(network?.pod, {}, `${nic.mac} on the pod network`);
      }
    }
    assert.deepEqual(
      (await vmwareTasksOf(vmware(), 'multi-vm-off')).filter((t) => t.state === 'error'),
      [],
      'no failed task on the source that was off',
    );
  });

  test('VM Import From VMWare w/ Powered Off VM Causes No VMWare Side-Effects in Tasks: imported and running, no failed task on the VM', async () => {
    await kubectl(
      ['apply', '-f', '-'],
      vmImport('powered-off', { virtualMachineName: 'powered-off-vm' }, 'VmwareSource'),
    );
    const statuses = await waitForImports(cluster, ['powered-off'], 300_000);
    // "Validate same as regular VM Import from VMWare"
    const status = statuses['powered-off']!;
    assert.equal(status.importStatus, 'virtualMachineRunning', await lastMessage('powered-off'));
    assert.equal(status.diskImportStatus?.length, 1);
    assert.equal(status.diskImportStatus![0]!.diskSize, 8 * 1024 ** 2);
    const vm = await vmOf(status.importedVirtualMachineName!);
    assert.equal(vm.status?.printableStatus, 'Running');
    assert.deepEqual(
      vm.spec.template.spec.domain.devices.interfaces.map((i: any) => i.macAddress),
      ['00:50:56:0b:00:04'],
    );
    assert.equal(await vmwarePowerStateOf(vmware(), 'powered-off-vm'), 'poweredOff', 'still off');
    // "within Tasks there are no tasks associated with the VM that are of warning / operation
    // failed type": vCenter's task list of the VM (a power-off sent to a VM that is off would be
    // a failed VirtualMachine.powerOff task, InvalidPowerState); nothing powered it on or off.
    const tasks = await vmwareTasksOf(vmware(), 'powered-off-vm');
    assert.deepEqual(
      tasks.filter((t) => t.state === 'error'),
      [],
      'no failed task',
    );
    assert.deepEqual(
      tasks.filter((t) => /^VirtualMachine\.(powerOn|powerOff|shutdownGuest)/.test(t.descriptionId)),
      [],
      'no power task',
    );
  });

  test('issue 23: startVirtualMachine false creates the VM stopped; the import ends in virtualMachineCreated, CreatedStopped', async () => {
    // linux-vm was imported above (bogus-vmware): its VM keeps the source's MACs, and Harvester
    // ≥ 1.5 refuses a second VM with them (README "Harvester versions"), so that copy goes first.
    await kubectl([
      'delete',
      'virtualmachines.kubevirt.io',
      '-l',
      'migration.harvesterhci.io/import-name=bogus-vmware',
      '--wait',
    ]);
    await kubectl(
      ['apply', '-f', '-'],
      vmImport('stopped', { virtualMachineName: 'linux-vm', startVirtualMachine: false }, 'VmwareSource'),
    );
    const statuses = await waitForImports(cluster, ['stopped'], 300_000);
    assert.equal(statuses.stopped!.importStatus, 'virtualMachineCreated', await lastMessage('stopped'));
    const started = statuses.stopped!.importConditions?.find((c) => c.type === 'VirtualMachineStarted');
    assert.deepEqual([started?.status, started?.reason], ['False', 'CreatedStopped']);
    const vm = await vmOf(statuses.stopped!.importedVirtualMachineName!);
    assert.equal(vm.spec.runStrategy, 'Halted');
    assert.equal(vm.status?.printableStatus, 'Stopped');
    assert.equal(
      await cluster.kube.find(
        'kubevirt.io/v1',
        'VirtualMachineInstance',
        'default',
        statuses.stopped!.importedVirtualMachineName!,
      ),
      undefined,
      'KubeVirt started nothing',
    );
    // terminal: resync leaves it alone, the scratch is freed
    const version = (await cluster.kube.find(API, 'VirtualMachineImport', 'default', 'stopped'))!.metadata!
      .resourceVersion;
    await sleep(12_000);
    assert.equal(
      (await cluster.kube.find(API, 'VirtualMachineImport', 'default', 'stopped'))!.metadata!.resourceVersion,
      version,
    );
    assert.deepEqual(
      (await names('pvc')).filter((p) => p.endsWith('stopped-scratch')),
      [],
    );
  });

  test('VM Import Respects Default StorageClass (OpenStack, vSphere/VMware, for Harvester): with another default class, images and volumes take its parameters', async () => {
    await kubectl(
      ['apply', '-f', '-'],
      stringify({
        apiVersion: 'storage.k8s.io/v1',
        kind: 'StorageClass',
        metadata: { name: 'tagged-ssd' },
        provisioner: 'driver.longhorn.io',
        allowVolumeExpansion: true,
        volumeBindingMode: 'Immediate',
        parameters: {
          numberOfReplicas: '1',
          diskSelector: 'ssd',
          staleReplicaTimeout: '30',
          migratable: 'true',
        },
      }),
    );
    const setDefault = (cls: string, value: boolean) =>
      kubectl([
        'annotate',
        '--overwrite',
        'storageclass',
        cls,
        `storageclass.kubernetes.io/is-default-class=${value}`,
      ]);
    await setDefault('harvester-longhorn', false);
    await setDefault('tagged-ssd', true);
    try {
      const imports = ['default-class', 'default-class-vsphere'];
      await kubectl(
        ['apply', '-f', '-'],
        [
          vmImport('default-class', { virtualMachineName: 'default-class' }),
          vmImport('default-class-vsphere', { virtualMachineName: 'default-class-vm' }, 'VmwareSource'),
        ].join('---\n'),
      );
      const statuses = await waitForImports(cluster, imports, 300_000);
      for (const n of imports) {
        assert.equal(statuses[n]!.importStatus, 'virtualMachineRunning', `${n}: ${await lastMessage(n)}`);
        const imageName = statuses[n]!.diskImportStatus![0]!.VirtualMachineImage!;
        const image = (await cluster.kube.find(
          'harvesterhci.io/v1beta1',
          'VirtualMachineImage',
          'default',
          imageName,
        )) as any;
        assert.equal(image.spec.storageClassParameters.diskSelector, 'ssd', `${n} image`);
        assert.equal(image.spec.storageClassParameters.numberOfReplicas, '1', `${n} image`);
        const pvc = (await cluster.kube.find(
          'v1',
          'PersistentVolumeClaim',
          'default',
          `${statuses[n]!.importedVirtualMachineName}-disk-0`,
        )) as any;
        const cls = (await cluster.kube.find(
          'storage.k8s.io/v1',
          'StorageClass',
          undefined,
          pvc.spec.storageClassName,
        )) as any;
        assert.equal(cls.parameters.diskSelector, 'ssd', `${n} volume class ${pvc.spec.storageClassName}`);
        assert.equal(cls.parameters.numberOfReplicas, '1', `${n} volume class`);
      }
    } finally {
      await setDefault('tagged-ssd', false);
      await setDefault('harvester-longhorn', true);
    }
  });

  test('VM Import Quick Cancel (prior to image download finishing) in OpenStack: images removed, no volumes, disks or VMs', async () => {
    await kubectl(['apply', '-f', '-'], vmImport('quick-cancel', { virtualMachineName: 'quick-cancel' }));
    await deleteOnceTheDownloadRuns('quick-cancel');
    // issue 23: the import had stopped the server (it was ACTIVE): it is started again
    assert.match(await eventsOf('quick-cancel'), /PoweredOn|PowerOnRequested/);
    await until(
      async () => (await openstackServerStatus(cluster.endpoints.openstack!, 'quick-cancel')) === 'ACTIVE',
      'the server is ACTIVE again',
    );
  });

  test('VM Import Quick Cancel (prior to image download finishing) in vSphere: images removed, no volumes, disks or VMs', async () => {
    await kubectl(
      ['apply', '-f', '-'],
      vmImport('quick-cancel-vsphere', { virtualMachineName: 'quick-cancel-vm' }, 'VmwareSource'),
    );
    await deleteOnceTheDownloadRuns('quick-cancel-vsphere');
    // issue 23: the import had powered the VM off (it was on): it is on again
    assert.match(await eventsOf('quick-cancel-vsphere'), /PoweredOn/);
    assert.equal(await vmwarePowerStateOf(vmware(), 'quick-cancel-vm'), 'poweredOn');
    assert.deepEqual(
      (await vmwareTasksOf(vmware(), 'quick-cancel-vm')).filter((t) => t.state === 'error'),
      [],
      'no failed task on the source',
    );
  });

  test('issue 23: a failed import (its volume upload killed after the server was stopped) starts the server again: SourcePoweredOn=True, an Event; the failure stays the last condition', async (t) => {
    const openstack = cluster.endpoints.openstack!;
    // Cinder's upload-to-image ends "killed" (every attempt: the Job may run again)
    await setOpenstackSimulatorFaults(openstack, { failNext: { upload: 1000 } });
    t.after(() => setOpenstackSimulatorFaults(openstack, { failNext: {} }));
    await kubectl(
      ['apply', '-f', '-'],
      vmImport('fails-after-stop', { virtualMachineName: 'fails-after-stop' }),
    );
    const statuses = await waitForImports(cluster, ['fails-after-stop'], 300_000);
    const status = statuses['fails-after-stop']!;
    assert.equal(status.importStatus, 'VMMigrationFailed', await lastMessage('fails-after-stop'));
    const conditions = status.importConditions ?? [];
    assert.ok(
      conditions.some((c) => ['VMShutdownGuest', 'VMPoweringOff'].includes(c.type!) && c.status === 'True'),
      `the import stopped the server: ${JSON.stringify(conditions.map((c) => c.type))}`,
    );
    const power = conditions.find((c) => c.type === 'SourcePoweredOn');
    assert.equal(power?.status, 'True', power?.message ?? 'no SourcePoweredOn condition');
    assert.match(power?.reason ?? '', /^(PoweredOn|PowerOnRequested)$/);
    assert.notEqual(conditions.at(-1)?.type, 'SourcePoweredOn', 'the failure stays the last word');
    assert.match(conditions.at(-1)?.message ?? '', /killed/);
    assert.match(await eventsOf('fails-after-stop'), /PoweredOn|PowerOnRequested/);
    await until(
      async () => (await openstackServerStatus(openstack, 'fails-after-stop')) === 'ACTIVE',
      'the server is ACTIVE again',
    );
  });

  test('issue 23: a VMware import deleted mid-export powers its source back on; a source that was off stays off', async () => {
    await kubectl(
      ['apply', '-f', '-'],
      [
        vmImport('delete-on', { virtualMachineName: 'delete-on' }, 'VmwareSource'),
        vmImport('delete-off', { virtualMachineName: 'delete-off' }, 'VmwareSource'),
      ].join('---\n'),
    );
    for (const n of ['delete-on', 'delete-off'])
      await until(
        async () =>
          ((await importStatus(cluster, n)).diskImportStatus ?? []).some(
            (d) => (d.progress?.bytesDone ?? 0) > 0,
          ),
        `${n} is exporting`,
      );
    assert.equal(await vmwarePowerStateOf(vmware(), 'delete-on'), 'poweredOff', 'the import powered it off');
    await kubectl(['delete', 'virtualmachineimport.migration', 'delete-on', 'delete-off', '--timeout=180s']);
    assert.equal(await vmwarePowerStateOf(vmware(), 'delete-on'), 'poweredOn');
    assert.equal(await vmwarePowerStateOf(vmware(), 'delete-off'), 'poweredOff');
    assert.match(await eventsOf('delete-on'), /PoweredOn/);
    assert.match(await eventsOf('delete-off'), /SourceWasOff/);
    assert.deepEqual(
      await vmwareTasksOf(vmware(), 'delete-off'),
      [],
      'nothing was done to the source that was off',
    );
  });

  test('issue 23: a target class without room fails in preflight, before the source is touched', async (t) => {
    // The local cluster's Longhorn node (local-cluster/runtime/storage/longhorn-node.ts) with all
    // but half a GiB of its disk reserved, as an administrator reserves space in Longhorn's UI.
    const GiB = 1024 ** 3;
    const node = JSON.parse(
      await kubectl(['get', '-n', 'longhorn-system', 'nodes.longhorn.io', 'vm-import-local', '-o', 'json']),
    );
    const [diskName, disk] = Object.entries(node.status.diskStatus as Record<string, any>)[0]!;
    const reservedBefore = node.spec.disks[diskName].storageReserved;
    const reserve = (bytes: number) =>
      kubectl([
        'patch',
        '-n',
        'longhorn-system',
        'nodes.longhorn.io',
        'vm-import-local',
        '--type=merge',
        '-p',
        JSON.stringify({ spec: { disks: { [diskName]: { storageReserved: bytes } } } }),
      ]);
    t.after(() => reserve(reservedBefore));
    await reserve(disk.storageMaximum - disk.storageScheduled - GiB / 2);
    await kubectl(
      ['apply', '-f', '-'],
      vmImport('no-room', { virtualMachineName: 'capacity-vm' }, 'VmwareSource'),
    );
    const statuses = await waitForImports(cluster, ['no-room'], 300_000);
    assert.equal(statuses['no-room']!.importStatus, 'virtualMachineImportInvalid');
    const valid = statuses['no-room']!.importConditions?.find((c) => c.type === 'VirtualMachineImportValid');
    assert.equal(valid?.reason, 'InsufficientStorage');
    assert.match(
      valid?.message ?? '',
      /StorageClass harvester-longhorn \(Longhorn\) cannot hold the import: it needs [\d.]+ GiB.*can schedule 0\.\d\d GiB/,
    );
    assert.equal(
      await vmwarePowerStateOf(vmware(), 'capacity-vm'),
      'poweredOn',
      'the source was not touched',
    );
    assert.deepEqual(await names('jobs', 'migration.harvesterhci.io/import-name=no-room'), []);
  });
});
