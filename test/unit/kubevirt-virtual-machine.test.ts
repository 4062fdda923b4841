import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildVirtualMachine } from '../../functions/shared/kubevirt/virtual-machine.ts';
import { mapNetworks } from '../../functions/shared/kubevirt/network-mapping.ts';
import { buildVolumeClaim } from '../../functions/shared/kubevirt/volumes.ts';
import type { SourceVm } from '../../functions/shared/sources/types.ts';
import type { VirtualMachineImportSpec } from '../../functions/shared/api/index.ts';

const vmwareVm: SourceVm = {
  name: 'Win2022 Server',
  cpu: { sockets: 2, cores: 2, threads: 1 }, // 4 vCPUs at 2 cores per socket
  memoryMiB: 8192,
  firmware: { type: 'efi', secureBoot: true, tpm: true },
  disks: [
    { index: 0, sizeBytes: 64 * 2 ** 20, bus: 'scsi', label: 'Hard disk 1' },
    { index: 1, sizeBytes: 32 * 2 ** 20, bus: 'sata', label: 'Hard disk 2' },
  ],
  nics: [
    { network: 'dvSwitch 1', mac: '00:50:56:01:02:03', model: 'virtio' },
    { network: 'VM Network', mac: '00:50:56:01:02:04', model: 'e1000e' },
  ],
};

const vmwareSpec: VirtualMachineImportSpec = {
  virtualMachineName: 'Win2022 Server',
  networkMapping: [{ sourceNetwork: 'dvSwitch 1', destinationNetwork: 'vlan1' }],
};

test('VMware VM: 2 disks (scsi + sata), 1 mapped + 1 unmapped NIC, EFI + Secure Boot + TPM', () => {
  const vm = buildVirtualMachine({
    name: 'win2022-server',
    namespace: 'imports',
    importName: 'win-import',
    importUid: '0f7e2c9a-1d2b-4c3d-8e4f-5a6b7c8d9e0f',
    vm: vmwareVm,
    spec: vmwareSpec,
    volumes: [
      { claimName: 'image-abc12', bus: 'scsi', bootOrder: 1 },
      { claimName: 'image-def34', bus: 'sata', bootOrder: 2 },
    ],
  });
  assert.deepEqual(vm, {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: {
      name: 'win2022-server',
      namespace: 'imports',
      labels: {
        'migration.harvesterhci.io/imported': 'true',
        'migration.harvesterhci.io/import-name': 'win-import',
        'migration.harvesterhci.io/import-uid': '0f7e2c9a-1d2b-4c3d-8e4f-5a6b7c8d9e0f',
      },
    },
    spec: {
      runStrategy: 'RerunOnFailure',
      template: {
        metadata: { labels: { 'harvesterhci.io/vmName': 'win2022-server' } },
        spec: {
          evictionStrategy: 'LiveMigrateIfPossible',
          domain: {
            cpu: { sockets: 2, cores: 2, threads: 1 },
            memory: { guest: '8192Mi' },
            resources: { limits: { cpu: '4', memory: '8192Mi' } },
            features: { acpi: { enabled: true }, smm: { enabled: true } },
            firmware: { bootloader: { efi: { secureBoot: true } } },
            devices: {
              disks: [
                { name: 'disk-0', bootOrder: 1, disk: { bus: 'scsi' } },
                { name: 'disk-1', bootOrder: 2, disk: { bus: 'sata' } },
              ],
              interfaces: [
                { name: 'nic-0', model: 'virtio', macAddress: '00:50:56:01:02:03', bridge: {} },
                { name: 'pod-network', model: 'e1000e', macAddress: '00:50:56:01:02:04', masquerade: {} },
              ],
              tpm: {},
            },
          },
          networks: [
            { name: 'nic-0', multus: { networkName: 'imports/vlan1' } },
            { name: 'pod-network', pod: {} },
          ],
          volumes: [
            { name: 'disk-0', persistentVolumeClaim: { claimName: 'image-abc12' } },
            { name: 'disk-1', persistentVolumeClaim: { claimName: 'image-def34' } },
          ],
        },
      },
    },
  });
  // Every interface has a network of the same name (KubeVirt rejects the VM otherwise).
  const t = vm.spec.template.spec;
  assert.deepEqual(
    t.domain.devices.interfaces.map((i) => i.name),
    t.networks.map((n) => n.name),
  );
});

test('OpenStack server: BIOS, flavor CPU, description annotation, default bus and NIC model', () => {
  const server: SourceVm = {
    name: 'openstack-demo',
    cpu: { sockets: 1, cores: 2, threads: 1 },
    memoryMiB: 512,
    firmware: { type: 'bios', secureBoot: false, tpm: false },
    disks: [{ index: 0, sizeBytes: 2 ** 30, label: 'volume 3c1f…' }],
    nics: [{ network: 'shared', mac: 'fa:16:3e:00:00:01' }],
    annotations: { 'field.cattle.io/description': 'demo server' },
  };
  const spec: VirtualMachineImportSpec = {
    defaultDiskBusType: 'virtio',
    defaultNetworkInterfaceModel: 'e1000',
    networkMapping: [{ sourceNetwork: 'shared', destinationNetwork: 'harvester-public/vlan100' }],
  };
  const vm = buildVirtualMachine({
    name: 'openstack-demo',
    namespace: 'default',
    importName: 'openstack-demo',
    importUid: 'uid-1',
    vm: server,
    spec,
    volumes: [{ claimName: 'image-q1w2e', bus: 'virtio', bootOrder: 1 }],
  });
  assert.deepEqual(vm.metadata.annotations, { 'field.cattle.io/description': 'demo server' });
  const d = vm.spec.template.spec.domain;
  assert.deepEqual(d.cpu, { sockets: 1, cores: 2, threads: 1 });
  assert.deepEqual(d.resources.limits, { cpu: '2', memory: '512Mi' });
  assert.deepEqual(d.memory, { guest: '512Mi' });
  assert.deepEqual(d.firmware, { bootloader: { bios: {} } });
  assert.deepEqual(d.features, { acpi: { enabled: true } });
  assert.equal(d.devices.tpm, undefined);
  assert.deepEqual(d.devices.disks, [{ name: 'disk-0', bootOrder: 1, disk: { bus: 'virtio' } }]);
  assert.deepEqual(d.devices.interfaces, [
    { name: 'nic-0', model: 'e1000', macAddress: 'fa:16:3e:00:00:01', bridge: {} },
  ]);
  assert.deepEqual(vm.spec.template.spec.networks, [
    { name: 'nic-0', multus: { networkName: 'harvester-public/vlan100' } },
  ]);
});

test('EFI without Secure Boot writes secureBoot: false and no SMM; TPM alone enables SMM', () => {
  const base = {
    name: 'v',
    namespace: 'n',
    importName: 'i',
    importUid: 'u',
    spec: {},
    volumes: [{ claimName: 'c', bus: 'virtio' as const, bootOrder: 1 }],
  };
  const efi = buildVirtualMachine({
    ...base,
    vm: { ...vmwareVm, firmware: { type: 'efi', secureBoot: false, tpm: false } },
  });
  assert.deepEqual(efi.spec.template.spec.domain.firmware, { bootloader: { efi: { secureBoot: false } } });
  assert.equal(efi.spec.template.spec.domain.features.smm, undefined);
  assert.equal(efi.spec.template.spec.domain.devices.tpm, undefined);

  const tpm = buildVirtualMachine({
    ...base,
    vm: { ...vmwareVm, firmware: { type: 'efi', secureBoot: false, tpm: true } },
  });
  assert.deepEqual(tpm.spec.template.spec.domain.features.smm, { enabled: true });
  assert.deepEqual(tpm.spec.template.spec.domain.devices.tpm, {});

  // A TPM without UEFI is dropped (KubeVirt's vTPM needs OVMF), like upstream.
  const biosTpm = buildVirtualMachine({
    ...base,
    vm: { ...vmwareVm, firmware: { type: 'bios', secureBoot: false, tpm: true } },
  });
  assert.equal(biosTpm.spec.template.spec.domain.devices.tpm, undefined);
  assert.equal(biosTpm.spec.template.spec.domain.features.smm, undefined);

  const persistent = buildVirtualMachine({
    ...base,
    vm: vmwareVm,
    persistentState: true,
    runStrategy: 'Halted',
  });
  assert.deepEqual(persistent.spec.template.spec.domain.firmware, {
    bootloader: { efi: { secureBoot: true, persistent: true } },
  });
  assert.deepEqual(persistent.spec.template.spec.domain.devices.tpm, { persistent: true });
  assert.equal(persistent.spec.runStrategy, 'Halted');
});

test('CPU topology is kept as the source gives it; limits are the product; zeros are guarded', () => {
  const base = { name: 'v', namespace: 'n', importName: 'i', importUid: 'u', spec: {}, volumes: [] };
  const vm = buildVirtualMachine({ ...base, vm: { ...vmwareVm, cpu: { sockets: 2, cores: 4, threads: 2 } } });
  assert.deepEqual(vm.spec.template.spec.domain.cpu, { sockets: 2, cores: 4, threads: 2 });
  assert.equal(vm.spec.template.spec.domain.resources.limits.cpu, '16');
  const odd = buildVirtualMachine({
    ...base,
    vm: { ...vmwareVm, cpu: { sockets: 0, cores: 3, threads: 0 } },
  });
  assert.deepEqual(odd.spec.template.spec.domain.cpu, { sockets: 1, cores: 3, threads: 1 });
});

test('a long or odd import name becomes a valid label value; a given network layout is used as is', () => {
  const layout = mapNetworks([], {}, 'n');
  const vm = buildVirtualMachine({
    name: 'v',
    namespace: 'n',
    importName: 'import.' + 'x'.repeat(70),
    importUid: 'u',
    vm: vmwareVm,
    spec: vmwareSpec,
    volumes: [],
    networkLayout: layout,
  });
  const value = vm.metadata.labels['migration.harvesterhci.io/import-name'] ?? '';
  assert.ok(value.length <= 63 && /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(value), value);
  assert.equal(vm.spec.template.spec.networks, layout.networks);
  assert.equal(vm.metadata.annotations, undefined);
});

test('buildVolumeClaim: Block RWX PVC populated from the image, exact byte size', () => {
  const pvc = buildVolumeClaim({
    name: 'image-abc12',
    namespace: 'imports',
    imageNamespace: 'imports',
    imageName: 'image-abc12',
    sizeBytes: 67108864,
    storageClassName: 'longhorn-image-abc12',
    importName: 'win-import',
    importUid: 'uid-1',
    diskIndex: 0,
  });
  assert.deepEqual(pvc, {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      name: 'image-abc12',
      namespace: 'imports',
      labels: {
        'migration.harvesterhci.io/imported': 'true',
        'migration.harvesterhci.io/import-name': 'win-import',
        'migration.harvesterhci.io/import-uid': 'uid-1',
        'migration.harvesterhci.io/disk-index': '0',
      },
      annotations: { 'harvesterhci.io/imageId': 'imports/image-abc12' },
    },
    spec: {
      accessModes: ['ReadWriteMany'],
      volumeMode: 'Block',
      resources: { requests: { storage: '67108864' } },
      storageClassName: 'longhorn-image-abc12',
    },
  });
  const minimal = buildVolumeClaim({
    name: 'p',
    namespace: 'n',
    imageNamespace: 'other',
    imageName: 'image-x',
    sizeBytes: 1,
    storageClassName: 'sc',
    importName: 'i',
  });
  assert.deepEqual(Object.keys(minimal.metadata.labels).sort(), [
    'migration.harvesterhci.io/import-name',
    'migration.harvesterhci.io/imported',
  ]);
  assert.equal(minimal.metadata.annotations['harvesterhci.io/imageId'], 'other/image-x');
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    assert.throws(
      () =>
        buildVolumeClaim({
          name: 'p',
          namespace: 'n',
          imageNamespace: 'n',
          imageName: 'x',
          sizeBytes: bad,
          storageClassName: 's',
          importName: 'i',
        }),
      RangeError,
    );
  }
});

test('buildVolumeClaim: a cdi-backend image is cloned into a volume of its class (Harvester puts cdi images on a PVC named after the image)', () => {
  const pvc = buildVolumeClaim({
    name: 'web-disk-0',
    namespace: 'vms',
    imageNamespace: 'vms',
    imageName: 'image-abcde',
    sizeBytes: 1 << 30,
    storageClassName: 'lvm-striped',
    importName: 'web',
    backend: 'cdi',
  });
  assert.deepEqual(pvc.spec.dataSource, { kind: 'PersistentVolumeClaim', name: 'image-abcde' });
  assert.equal(pvc.spec.storageClassName, 'lvm-striped');
  assert.equal(
    pvc.metadata.annotations['harvesterhci.io/imageId'],
    undefined,
    'no backing image to populate from',
  );
});
