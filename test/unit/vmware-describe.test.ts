import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveVmwareConnection } from '../../functions/shared/sources/vmware/connection.ts';
import { describeVmProperties } from '../../functions/shared/sources/vmware/describe.ts';
import {
  diskForDeviceUrl,
  parseDeviceKey,
  resolveDeviceUrl,
} from '../../functions/shared/sources/vmware/export.ts';
import { datacenterPath, vmInventoryPath } from '../../functions/shared/sources/vmware/inventory.ts';
import { SourceError } from '../../functions/shared/sources/source-error.ts';

// Values shaped as node-soap parses vim25 responses.
const typed = (type: string, fields: Record<string, unknown>) => ({
  attributes: { 'XMLSchema-instance:type': type },
  ...fields,
});
const devices = typed('ArrayOfVirtualDevice', {
  VirtualDevice: [
    typed('VirtualLsiLogicController', { key: '1000', busNumber: '0' }),
    typed('VirtualAHCIController', { key: '15000', busNumber: '0' }),
    typed('VirtualDisk', {
      key: '2000',
      controllerKey: '1000',
      unitNumber: '0',
      capacityInKB: '2048',
      deviceInfo: typed('Description', { label: 'Hard disk 1' }),
    }),
    typed('VirtualDisk', {
      key: '16000',
      controllerKey: '15000',
      unitNumber: '0',
      capacityInBytes: '4194304',
      capacityInKB: '4096',
      deviceInfo: typed('Description', { label: 'Hard disk 2' }),
    }),
    typed('VirtualVmxnet3', {
      key: '4000',
      macAddress: '00:50:56:aa:bb:cc',
      backing: typed('VirtualEthernetCardDistributedVirtualPortBackingInfo', {
        port: typed('DistributedVirtualSwitchPortConnection', {
          switchUuid: 'x',
          portgroupKey: 'dvportgroup-42',
        }),
      }),
      deviceInfo: typed('Description', { summary: 'DVSwitch: 50 2a' }),
    }),
    typed('VirtualSriovEthernetCard', {
      key: '4001',
      macAddress: '00:50:56:aa:bb:cd',
      backing: typed('VirtualEthernetCardNetworkBackingInfo', { deviceName: 'VM Network' }),
    }),
    typed('VirtualTPM', { key: '11000' }),
  ],
});

test('describe: CPU topology not inverted (B1), firmware, disk buses keyed by controller (B15), every NIC kept', () => {
  const vm = describeVmProperties(
    new Map<string, unknown>([
      ['name', 'vm1'],
      ['config.hardware.numCPU', '6'],
      ['config.hardware.numCoresPerSocket', '3'],
      ['config.hardware.memoryMB', '1024'],
      ['config.hardware.device', devices],
      ['config.firmware', 'efi'],
      [
        'config.bootOptions',
        typed('VirtualMachineBootOptions', {
          efiSecureBootEnabled: 'true',
          bootOrder: typed('VirtualMachineBootOptionsBootableDiskDevice', { deviceKey: '16000' }),
        }),
      ],
    ]),
    new Map([['dvportgroup-42', 'dvSwitch 1']]),
  );
  assert.deepEqual(vm, {
    name: 'vm1',
    cpu: { sockets: 2, cores: 3, threads: 1 },
    memoryMiB: 1024,
    firmware: { type: 'efi', secureBoot: true, tpm: true },
    disks: [
      // the boot disk (bootOrder) comes first
      { index: 0, sizeBytes: 4194304, label: 'Hard disk 2', bus: 'sata' },
      { index: 1, sizeBytes: 2097152, label: 'Hard disk 1', bus: 'scsi' },
    ],
    nics: [
      { network: 'dvSwitch 1', mac: '00:50:56:aa:bb:cc', model: 'virtio' },
      { network: 'VM Network', mac: '00:50:56:aa:bb:cd' },
    ],
    // no config.guestId read: vSphere's guest OS is not known
    guestOs: { family: 'unknown', detectedFrom: 'vSphere config.guestId' },
  });
});

test('describe: secure boot only with EFI; odd core counts fall back to one core per socket', () => {
  const vm = describeVmProperties(
    new Map<string, unknown>([
      ['config.hardware.numCPU', '3'],
      ['config.hardware.numCoresPerSocket', '2'],
      ['config.firmware', 'bios'],
      ['config.bootOptions', typed('VirtualMachineBootOptions', { efiSecureBootEnabled: 'true' })],
    ]),
    new Map(),
  );
  assert.deepEqual(vm.cpu, { sockets: 3, cores: 1, threads: 1 });
  assert.deepEqual(vm.firmware, { type: 'bios', secureBoot: false, tpm: false });
});

test('lease device keys map to disks by controller type, bus and unit', () => {
  assert.deepEqual(parseDeviceKey('/vm-13010/VirtualLsiLogicController0:1'), {
    controllerType: 'VirtualLsiLogicController',
    bus: 0,
    unit: 1,
  });
  const disks = [
    {
      key: 1,
      controllerKey: 1000,
      controllerType: 'ParaVirtualSCSIController',
      busNumber: 0,
      unitNumber: 0,
      sizeBytes: 1,
      label: 'a',
    },
    {
      key: 2,
      controllerKey: 15000,
      controllerType: 'VirtualAHCIController',
      busNumber: 0,
      unitNumber: 0,
      sizeBytes: 1,
      label: 'b',
    },
  ];
  const device = (key: string) => ({ key, url: '', targetId: '', disk: true, fileSize: 0 });
  assert.equal(diskForDeviceUrl(disks, device('/vm-1/VirtualAHCIController0:0')), 1);
  assert.equal(diskForDeviceUrl(disks, device('/vm-1/ParaVirtualSCSIController0:0')), 0);
  assert.equal(diskForDeviceUrl(disks, device('/vm-1/VirtualIDEController0:0')), -1);
});

test('a "*" host in a device URL is the endpoint host', () => {
  assert.equal(
    resolveDeviceUrl('https://*/nfc/52ab/disk-0.vmdk', 'https://vc.example.com:8443/sdk'),
    'https://vc.example.com:8443/nfc/52ab/disk-0.vmdk',
  );
  assert.equal(
    resolveDeviceUrl('https://esx1/nfc/1/disk-0.vmdk', 'https://vc/sdk'),
    'https://esx1/nfc/1/disk-0.vmdk',
  );
});

test('inventory paths: leading "/" optional, nested folders, "/" in names escaped', () => {
  assert.equal(datacenterPath('/DC0'), 'DC0');
  assert.equal(datacenterPath('Folder/DC0/'), 'Folder/DC0');
  assert.equal(vmInventoryPath('/DC0', '', 'vm1'), 'DC0/vm/vm1');
  assert.equal(vmInventoryPath('DC0', 'a/b', 'x/y%'), 'DC0/vm/a/b/x%2fy%25');
});

test('connection settings: required keys, PEM check, explicit TLS opt-out only', () => {
  const ok = resolveVmwareConnection({ endpoint: 'https://vc/sdk' }, { username: 'u', password: 'p' });
  assert.equal(ok.insecureSkipVerify, false);
  assert.equal(
    resolveVmwareConnection(
      { endpoint: 'https://vc/sdk' },
      { username: 'u', password: 'p', insecureSkipVerify: 'true' },
    ).insecureSkipVerify,
    true,
  );
  const reasonOf = (f: () => unknown) => {
    try {
      f();
    } catch (err) {
      assert.ok(err instanceof SourceError);
      return err.reason;
    }
    return 'none';
  };
  assert.equal(
    reasonOf(() => resolveVmwareConnection({ endpoint: 'https://vc/sdk' }, { username: 'u' })),
    'SecretKeyMissing',
  );
  assert.equal(
    reasonOf(() => resolveVmwareConnection({ endpoint: 'vc' }, { username: 'u', password: 'p' })),
    'InvalidEndpoint',
  );
  assert.equal(
    reasonOf(() =>
      resolveVmwareConnection({ endpoint: 'https://vc/sdk' }, { username: 'u', password: 'p', caCert: 'x' }),
    ),
    'InvalidCaCert',
  );
  assert.equal(
    reasonOf(() =>
      resolveVmwareConnection(
        { endpoint: 'https://vc/sdk' },
        { username: 'u', password: 'p', insecureSkipVerify: 'yes' },
      ),
    ),
    'InvalidSecret',
  );
});
