// Guest OS detection from each source's own fields, and the one table that picks disk buses and
// NIC models from it (functions/shared/kubevirt/guest-devices.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  familyOfCimOsType,
  familyOfGlance,
  familyOfVsphereGuestId,
  guestOsFromGlance,
  guestOsFromOvf,
  guestOsFromVsphere,
} from '../../functions/shared/guest-os.ts';
import {
  diskBusFor,
  nicModelFor,
  virtioDriversOf,
  withGuestDevices,
} from '../../functions/shared/kubevirt/guest-devices.ts';
import { parseOvfDescriptor } from '../../functions/shared/sources/ova/ovf-descriptor.ts';
import { toSourceVm } from '../../functions/shared/sources/openstack/server-model.ts';
import type { SourceVm } from '../../functions/shared/sources/types.ts';
import { writeOvf } from '../../local-cluster/simulators/ova/ovf-writer.ts';

test('vSphere guestIds: Windows, Linux, other and the ids that say nothing', () => {
  const cases: [string | undefined, string][] = [
    ['windows2019srv_64Guest', 'windows'],
    ['windows9_64Guest', 'windows'],
    ['winNetStandardGuest', 'windows'],
    ['winXPProGuest', 'windows'],
    ['otherLinux64Guest', 'linux'],
    ['rhel8_64Guest', 'linux'],
    ['ubuntu64Guest', 'linux'],
    ['sles15_64Guest', 'linux'],
    ['oracleLinux8_64Guest', 'linux'],
    ['freebsd13_64Guest', 'other'],
    ['solaris11_64Guest', 'other'],
    ['otherGuest64', 'unknown'],
    ['otherGuest', 'unknown'],
    ['', 'unknown'],
    [undefined, 'unknown'],
  ];
  for (const [id, family] of cases) assert.equal(familyOfVsphereGuestId(id), family, String(id));
});

test('CIM OsType numbers (OVF ovf:id) and Glance os_type / os_distro', () => {
  assert.equal(familyOfCimOsType(121), 'windows'); // Windows Server 2019
  assert.equal(familyOfCimOsType(101), 'linux'); // Linux 64-Bit
  assert.equal(familyOfCimOsType(42), 'other'); // FreeBSD
  assert.equal(familyOfCimOsType(1), 'unknown'); // Other
  assert.equal(familyOfGlance('windows', undefined), 'windows');
  assert.equal(familyOfGlance('linux', 'ubuntu'), 'linux');
  assert.equal(familyOfGlance(undefined, 'centos'), 'linux');
  assert.equal(familyOfGlance(undefined, 'windows'), 'windows');
  assert.equal(familyOfGlance(undefined, 'freebsd'), 'other');
  assert.equal(familyOfGlance(undefined, undefined), 'unknown');
});

test('each source: what it reports becomes a GuestOs; untrusted text is bounded', () => {
  assert.deepEqual(guestOsFromVsphere('windows2019srv_64Guest', 'Microsoft Windows Server 2019 (64-bit)'), {
    family: 'windows',
    id: 'windows2019srv_64Guest',
    name: 'Microsoft Windows Server 2019 (64-bit)',
    detectedFrom: 'vSphere config.guestId',
  });
  const long = guestOsFromVsphere('x'.repeat(10_000), 'a\u0000b');
  assert.equal(long.id!.length, 256);
  assert.equal(long.name, 'ab');

  assert.deepEqual(guestOsFromGlance({ os_type: 'windows', os_distro: 'windows', os_version: '2019' }), {
    family: 'windows',
    id: 'windows',
    name: 'windows 2019',
    detectedFrom: 'Glance image properties os_type/os_distro',
    virtioHardware: true,
  });
  assert.equal(guestOsFromGlance({ hw_disk_bus: 'sata' }).virtioHardware, false);
  assert.equal(guestOsFromGlance({ hw_disk_bus: 'scsi', hw_scsi_model: 'virtio-scsi' }).virtioHardware, true);
  assert.equal(guestOsFromGlance(undefined).family, 'unknown');

  // vmw:osType wins; the CIM number is used when it says nothing
  assert.equal(guestOsFromOvf('1', 'windows2019srv_64Guest', undefined).family, 'windows');
  assert.equal(guestOsFromOvf('121', 'otherGuest64', undefined).family, 'windows');
  assert.equal(guestOsFromOvf(undefined, undefined, undefined).family, 'unknown');
});

test('the OVF writer (as ovftool writes OperatingSystemSection) and the OVF parser agree', () => {
  const ovf = (osType?: string) =>
    parseOvfDescriptor(
      writeOvf({
        name: 'w',
        cpus: 1,
        memoryMiB: 64,
        firmware: 'bios',
        ...(osType ? { osType } : {}),
        disks: [],
        nics: [],
      }),
    ).vm.guestOs;
  assert.deepEqual(ovf('windows2019srv_64Guest'), {
    family: 'windows',
    id: 'windows2019srv_64Guest',
    detectedFrom: 'OVF OperatingSystemSection',
  });
  assert.equal(ovf('otherLinux64Guest')?.family, 'linux');
  assert.equal(ovf()?.family, 'unknown');
});

test('OpenStack: os_type from the boot image; buses and models from hw_disk_bus / hw_vif_model', () => {
  const server = { id: 's1', name: 'win', status: 'ACTIVE' };
  const vm = toSourceVm({
    server,
    flavor: { vcpus: 1, ram: 512 },
    volumes: [{ id: 'v1', size: 1 }],
    bootImageProperties: { os_type: 'windows', hw_disk_bus: 'sata', hw_vif_model: 'e1000' },
    nics: [{ network: 'shared' }],
  });
  assert.equal(vm.guestOs?.family, 'windows');
  assert.equal(vm.disks[0]?.bus, 'sata');
  assert.equal(vm.nics[0]?.model, 'e1000');
  const kvm = toSourceVm({
    server,
    flavor: { vcpus: 1, ram: 512 },
    volumes: [{ id: 'v1', size: 1 }],
    nics: [{ network: 'shared' }],
  });
  assert.equal(kvm.disks[0]?.bus, 'virtio');
  assert.equal(kvm.nics[0]?.model, 'virtio');
  assert.equal(kvm.guestOs?.virtioHardware, true);
});

test('virtio drivers: the spec decides; else Linux or virtio hardware yes, Windows and unknown no', () => {
  const win = { family: 'windows', detectedFrom: 'x' } as const;
  const linux = { family: 'linux', detectedFrom: 'x' } as const;
  assert.equal(virtioDriversOf(win, {}).virtioDrivers, false);
  assert.equal(virtioDriversOf(win, { guestHasVirtioDrivers: true }).virtioDrivers, true);
  assert.equal(virtioDriversOf(linux, {}).virtioDrivers, true);
  assert.equal(virtioDriversOf(linux, { guestHasVirtioDrivers: false }).virtioDrivers, false);
  assert.equal(virtioDriversOf(undefined, {}).virtioDrivers, false);
  assert.equal(virtioDriversOf({ family: 'other', detectedFrom: 'x' }, {}).virtioDrivers, false);
  assert.equal(virtioDriversOf({ ...win, virtioHardware: true }, {}).virtioDrivers, true);
});

test('the table: disk buses', () => {
  const rows: [Parameters<typeof diskBusFor>[0], boolean, string | undefined, string][] = [
    ['scsi', true, undefined, 'scsi'],
    ['scsi', false, undefined, 'sata'],
    ['virtio', true, undefined, 'virtio'],
    ['virtio', false, undefined, 'sata'],
    ['sata', true, undefined, 'sata'],
    ['sata', false, undefined, 'sata'],
    ['usb', false, undefined, 'usb'],
    [undefined, true, undefined, 'virtio'],
    [undefined, false, undefined, 'sata'],
    [undefined, false, 'scsi', 'scsi'], // the user's defaultDiskBusType is their explicit word
  ];
  for (const [source, drivers, userDefault, bus] of rows)
    assert.equal(
      diskBusFor(source, drivers, { defaultDiskBusType: userDefault as never }),
      bus,
      `${source} drivers=${drivers} default=${userDefault}`,
    );
});

test('the table: NIC models', () => {
  const win = { family: 'windows', detectedFrom: 'x' } as const;
  assert.equal(nicModelFor('virtio', win, true, {}), 'virtio');
  assert.equal(nicModelFor('virtio', win, false, {}), 'e1000e');
  assert.equal(nicModelFor('virtio', undefined, false, {}), 'e1000');
  assert.equal(nicModelFor('e1000', undefined, true, {}), 'e1000');
  assert.equal(nicModelFor('pcnet', win, false, {}), 'pcnet');
  assert.equal(nicModelFor(undefined, undefined, true, {}), 'virtio');
  assert.equal(nicModelFor(undefined, win, false, {}), 'e1000e');
  assert.equal(nicModelFor(undefined, win, false, { defaultNetworkInterfaceModel: 'rtl8139' }), 'rtl8139');
});

test('a Windows VM with PVSCSI and vmxnet3: sata/e1000e by default, scsi/virtio with virtio drivers', () => {
  const vm: SourceVm = {
    name: 'win',
    cpu: { sockets: 1, cores: 1, threads: 1 },
    memoryMiB: 1024,
    firmware: { type: 'efi', secureBoot: false, tpm: false },
    disks: [
      { index: 0, sizeBytes: 1, label: 'Hard disk 1', bus: 'scsi' },
      { index: 1, sizeBytes: 1, label: 'Hard disk 2', bus: 'sata' },
    ],
    nics: [{ network: 'VM Network', model: 'virtio' }],
    guestOs: guestOsFromVsphere('windows2019srv_64Guest', 'Microsoft Windows Server 2019 (64-bit)'),
  };
  const safe = withGuestDevices(vm, {});
  assert.deepEqual(
    safe.vm.disks.map((d) => d.bus),
    ['sata', 'sata'],
  );
  assert.equal(safe.vm.nics[0]?.model, 'e1000e');
  assert.match(
    safe.message,
    /windows guest \(Microsoft Windows Server 2019 \(64-bit\)\) without virtio drivers/,
  );
  assert.match(safe.message, /guestHasVirtioDrivers: true/);
  const virtio = withGuestDevices(vm, { guestHasVirtioDrivers: true });
  assert.deepEqual(
    virtio.vm.disks.map((d) => d.bus),
    ['scsi', 'sata'],
  );
  assert.equal(virtio.vm.nics[0]?.model, 'virtio');
  assert.equal(vm.disks[0]?.bus, 'scsi', 'the input is not changed');
});
