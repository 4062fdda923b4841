import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { busForController, nicModelForSubType } from '../../functions/shared/sources/ova/hardware-mapping.ts';
import { parseOvfDescriptor } from '../../functions/shared/sources/ova/ovf-descriptor.ts';
import { bytesPerUnit, toBytes } from '../../functions/shared/sources/ova/units.ts';
import { SourceError } from '../../functions/shared/sources/source-error.ts';
import { writeOvf } from '../../local-cluster/simulators/ova/ovf-writer.ts';

const OVF1 = 'http://schemas.dmtf.org/ovf/envelope/1';
const OVF2 = 'http://schemas.dmtf.org/ovf/envelope/2';
const RASD = 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData';
const EPASD = 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_EthernetPortAllocationSettingData';
const SASD = 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_StorageAllocationSettingData';
const VMW = 'http://www.vmware.com/schema/ovf';

/** A hand-written OVF 1.0 in the shape VirtualBox and older ESXi write (default namespace, PIIX4). */
const VIRTUALBOX_STYLE = `<?xml version="1.0"?>
<Envelope ovf:version="1.0" xml:lang="en-US" xmlns="${OVF1}" xmlns:ovf="${OVF1}" xmlns:rasd="${RASD}">
  <References>
    <File ovf:id="file1" ovf:href="box-disk001.vmdk"/>
  </References>
  <DiskSection>
    <Info>List of the virtual disks used in the package</Info>
    <Disk ovf:capacity="2" ovf:capacityAllocationUnits="byte * 2^30" ovf:diskId="vmdisk1" ovf:fileRef="file1"
          ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
    <Disk ovf:capacity="1073741824" ovf:diskId="vmdisk2"/>
  </DiskSection>
  <VirtualSystem ovf:id="box &amp; co">
    <Info>A virtual machine</Info>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements for a virtual machine</Info>
      <Item><rasd:Caption>1 virtual CPU</rasd:Caption><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>1</rasd:VirtualQuantity></Item>
      <Item><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>1024</rasd:VirtualQuantity></Item>
      <Item><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceSubType>PIIX4</rasd:ResourceSubType><rasd:ResourceType>5</rasd:ResourceType></Item>
      <Item><rasd:InstanceID>4</rasd:InstanceID><rasd:ResourceSubType>AHCI</rasd:ResourceSubType><rasd:ResourceType>20</rasd:ResourceType></Item>
      <Item><rasd:AutomaticAllocation>true</rasd:AutomaticAllocation><rasd:Connection>NAT</rasd:Connection><rasd:InstanceID>5</rasd:InstanceID><rasd:ResourceSubType>E1000</rasd:ResourceSubType><rasd:ResourceType>10</rasd:ResourceType></Item>
      <Item><rasd:ElementName>cdrom1</rasd:ElementName><rasd:InstanceID>6</rasd:InstanceID><rasd:Parent>3</rasd:Parent><rasd:ResourceType>15</rasd:ResourceType></Item>
      <Item><rasd:ElementName>disk1</rasd:ElementName><rasd:HostResource>/disk/vmdisk1</rasd:HostResource><rasd:InstanceID>7</rasd:InstanceID><rasd:Parent>4</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
      <Item><rasd:ElementName>disk2</rasd:ElementName><rasd:HostResource>ovf:/disk/vmdisk2</rasd:HostResource><rasd:InstanceID>8</rasd:InstanceID><rasd:Parent>3</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>`;

/** OVF 2.0 with unusual prefixes for the same namespaces (only URIs matter). */
const OVF2_CUSTOM_PREFIXES = `<?xml version="1.0" encoding="UTF-8"?>
<o:Envelope xmlns:o="${OVF2}" xmlns:r="${RASD}" xmlns:e="${EPASD}" xmlns:s="${SASD}" xmlns:v="${VMW}">
  <o:References><o:File o:href="a.vmdk" o:id="f1" o:size="1000"/></o:References>
  <o:DiskSection><o:Info>disks</o:Info>
    <o:Disk o:capacity="64" o:capacityAllocationUnits="byte * 2^20" o:diskId="d1" o:fileRef="f1" o:populatedSize="4194304"/>
  </o:DiskSection>
  <o:VirtualSystem o:id="vm2">
    <o:Info>vm</o:Info>
    <o:VirtualHardwareSection>
      <o:Info>hw</o:Info>
      <o:Item><r:InstanceID>1</r:InstanceID><r:ResourceType>3</r:ResourceType><r:VirtualQuantity>6</r:VirtualQuantity><v:CoresPerSocket o:required="false">3</v:CoresPerSocket></o:Item>
      <o:Item><r:AllocationUnits>GigaBytes</r:AllocationUnits><r:InstanceID>2</r:InstanceID><r:ResourceType>4</r:ResourceType><r:VirtualQuantity>2</r:VirtualQuantity></o:Item>
      <o:Item><r:InstanceID>3</r:InstanceID><r:ResourceSubType>vmware.nvme.controller</r:ResourceSubType><r:ResourceType>20</r:ResourceType></o:Item>
      <o:Item o:required="false"><r:ElementName>Virtual TPM</r:ElementName><r:InstanceID>9</r:InstanceID><r:ResourceSubType>vmware.vtpm</r:ResourceSubType><r:ResourceType>1</r:ResourceType></o:Item>
      <o:EthernetPortItem><e:Address>00:50:56:AA:BB:CC</e:Address><e:Connection>dvSwitch 1</e:Connection><e:InstanceID>4</e:InstanceID><e:ResourceSubType>PCNet32</e:ResourceSubType><e:ResourceType>10</e:ResourceType></o:EthernetPortItem>
      <o:EthernetPortItem><e:Connection>VM Network</e:Connection><e:InstanceID>5</e:InstanceID><e:ResourceSubType>E1000e</e:ResourceSubType><e:ResourceType>10</e:ResourceType></o:EthernetPortItem>
      <o:StorageItem><s:HostResource>ovf:/disk/d1</s:HostResource><s:InstanceID>6</s:InstanceID><s:Parent>3</s:Parent><s:ResourceType>17</s:ResourceType></o:StorageItem>
      <v:Config o:required="false" v:key="firmware" v:value="EFI"/>
      <v:Config o:required="false" v:key="bootOptions.efiSecureBootEnabled" v:value="true"/>
    </o:VirtualHardwareSection>
  </o:VirtualSystem>
</o:Envelope>`;

function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof SourceError, `expected SourceError, got ${String(e)}`);
    return `${e.reason}: ${e.message}`;
  }
  assert.fail('expected an error');
}

describe('OVF descriptor parsing', () => {
  it('reads an ovftool OVF 1.0: cpu topology, memory units, controllers, NIC models and MACs, firmware', () => {
    const xml = writeOvf({
      name: 'web-01',
      cpus: 4,
      coresPerSocket: 2,
      memoryMiB: 2048,
      firmware: 'efi',
      secureBoot: true,
      tpm: true,
      disks: [
        {
          controller: 'pvscsi',
          capacityBytes: 64 * 2 ** 20,
          populatedBytes: 2 ** 20,
          fileName: 'web-01-disk1.vmdk',
          fileSize: 1,
        },
        {
          controller: 'ide',
          capacityBytes: 2 ** 30,
          populatedBytes: 0,
          fileName: 'web-01-disk2.vmdk',
          fileSize: 1,
        },
        {
          controller: 'lsilogic-sas',
          capacityBytes: 2 ** 20,
          populatedBytes: 0,
          fileName: 'web-01-disk3.vmdk',
          fileSize: 1,
        },
        {
          controller: 'nvme',
          capacityBytes: 2 ** 20,
          populatedBytes: 0,
          fileName: 'web-01-disk4.vmdk',
          fileSize: 1,
        },
        {
          controller: 'sata',
          capacityBytes: 2 ** 20,
          populatedBytes: 0,
          fileName: 'web-01-disk5.vmdk',
          fileSize: 1,
        },
      ],
      nics: [
        { network: 'VM Network', type: 'vmxnet3', mac: '00:50:56:01:02:03' },
        { network: 'dvSwitch 1', type: 'e1000' },
      ],
    });
    const d = parseOvfDescriptor(xml);
    assert.equal(d.ovfVersion, 1);
    assert.equal(d.vm.name, 'web-01');
    assert.deepEqual(d.vm.cpu, { sockets: 2, cores: 2, threads: 1 });
    assert.equal(d.vm.memoryMiB, 2048);
    assert.deepEqual(d.vm.firmware, { type: 'efi', secureBoot: true, tpm: true });
    assert.deepEqual(
      d.vm.disks.map((x) => [x.index, x.label, x.bus, x.sizeBytes]),
      [
        [0, 'web-01-disk1.vmdk', 'scsi', 64 * 2 ** 20],
        [1, 'web-01-disk2.vmdk', 'sata', 2 ** 30],
        [2, 'web-01-disk3.vmdk', 'scsi', 2 ** 20],
        [3, 'web-01-disk4.vmdk', 'virtio', 2 ** 20],
        [4, 'web-01-disk5.vmdk', 'sata', 2 ** 20],
      ],
    );
    assert.equal(d.vm.disks[0]?.allocatedBytes, 2 ** 20);
    assert.deepEqual(d.vm.nics, [
      { network: 'VM Network', mac: '00:50:56:01:02:03', model: 'virtio' },
      { network: 'dvSwitch 1', model: 'e1000' },
    ]);
    assert.deepEqual(d.warnings, []);
  });

  it('reads OVF 2.0 EthernetPortItem / StorageItem with any prefixes, GigaBytes memory, vTPM, NVMe', () => {
    const d = parseOvfDescriptor(OVF2_CUSTOM_PREFIXES);
    assert.equal(d.ovfVersion, 2);
    assert.equal(d.vm.name, 'vm2');
    assert.deepEqual(d.vm.cpu, { sockets: 2, cores: 3, threads: 1 });
    assert.equal(d.vm.memoryMiB, 2048);
    assert.deepEqual(d.vm.firmware, { type: 'efi', secureBoot: true, tpm: true });
    assert.deepEqual(d.vm.nics, [
      { network: 'dvSwitch 1', mac: '00:50:56:aa:bb:cc', model: 'pcnet' },
      { network: 'VM Network', model: 'e1000e' },
    ]);
    assert.equal(d.disks.length, 1);
    assert.equal(d.disks[0]?.file?.href, 'a.vmdk');
    assert.equal(d.disks[0]?.bus, 'virtio');
    assert.equal(d.disks[0]?.capacityBytes, 64 * 2 ** 20);
    assert.equal(d.disks[0]?.populatedBytes, 4194304);
  });

  it('reads a VirtualBox-style OVF: default memory unit MB, PIIX4 and AHCI to sata, blank disk, CD-ROM ignored', () => {
    const d = parseOvfDescriptor(VIRTUALBOX_STYLE);
    assert.equal(d.vm.name, 'box & co');
    assert.equal(d.vm.memoryMiB, 1024, 'no AllocationUnits means MB, not bytes');
    assert.deepEqual(d.vm.cpu, { sockets: 1, cores: 1, threads: 1 });
    assert.deepEqual(d.vm.firmware, { type: 'bios', secureBoot: false, tpm: false });
    assert.deepEqual(
      d.disks.map((x) => [x.index, x.file?.href, x.bus, x.capacityBytes]),
      [
        [0, 'box-disk001.vmdk', 'sata', 2 * 2 ** 30],
        [1, undefined, 'sata', 2 ** 30],
      ],
    );
    assert.deepEqual(d.vm.nics, [{ network: 'NAT', model: 'e1000' }]);
  });

  it('picks the VMware hardware section when there are several, with a warning', () => {
    const xml = VIRTUALBOX_STYLE.replace(
      '<VirtualHardwareSection>',
      `<VirtualHardwareSection><Info>other</Info><System><VirtualSystemType xmlns="x">virtualbox-2.2</VirtualSystemType></System>
        <Item><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>64</rasd:VirtualQuantity></Item>
      </VirtualHardwareSection><VirtualHardwareSection><System><VirtualSystemType xmlns="y">vmx-13</VirtualSystemType></System>`,
    );
    const d = parseOvfDescriptor(xml);
    assert.equal(d.vm.memoryMiB, 1024);
    assert.match(d.warnings.join('\n'), /2 VirtualHardwareSections; using the VMware/);
  });

  it('rejects what it cannot import with a reason and a message', () => {
    assert.match(
      reasonOf(() => parseOvfDescriptor('<not xml')),
      /^InvalidOvf: OVF descriptor: invalid XML/,
    );
    assert.match(
      reasonOf(() => parseOvfDescriptor('<Envelope/>')),
      /^InvalidOvf: .*expected an OVF 0.9, 1.x or 2.x <Envelope>/,
    );
    assert.match(
      reasonOf(() =>
        parseOvfDescriptor(
          `<Envelope xmlns="${OVF1}"><VirtualSystemCollection xmlns:ovf="${OVF1}" ovf:id="c"/></Envelope>`,
        ),
      ),
      /^InvalidOvf: .*VirtualSystemCollection\) holds no VirtualSystem/,
    );
    assert.match(
      reasonOf(() =>
        parseOvfDescriptor(
          VIRTUALBOX_STYLE.replace(
            'ovf:href="box-disk001.vmdk"',
            'ovf:href="x.vmdk" ovf:compression="bzip2"',
          ),
        ),
      ),
      /^UnsupportedOva: file "x.vmdk" uses ovf:compression="bzip2"; supported are "gzip" and "identity"/,
    );
    assert.match(
      reasonOf(() =>
        parseOvfDescriptor(
          VIRTUALBOX_STYLE.replace(
            '<Item><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>1024</rasd:VirtualQuantity></Item>',
            '',
          ),
        ),
      ),
      /^InvalidOvf: .*no memory item \(ResourceType 4\), so its memory size is unknown/,
    );
    assert.match(
      reasonOf(() => parseOvfDescriptor(VIRTUALBOX_STYLE.replace('/disk/vmdisk1', '/disk/nope'))),
      /^InvalidOvf: .*disk "nope", which DiskSection does not list/,
    );
    assert.match(
      reasonOf(() =>
        parseOvfDescriptor(
          VIRTUALBOX_STYLE.replace('<rasd:VirtualQuantity>1024', '<rasd:VirtualQuantity>lots'),
        ),
      ),
      /^InvalidOvf: .*memory VirtualQuantity "lots"/,
    );
  });

  it('keeps going with a warning on odd CoresPerSocket and NICs without a network', () => {
    const xml = OVF2_CUSTOM_PREFIXES.replace('>3</v:CoresPerSocket>', '>4</v:CoresPerSocket>').replace(
      '<e:Connection>VM Network</e:Connection>',
      '',
    );
    const d = parseOvfDescriptor(xml);
    assert.deepEqual(d.vm.cpu, { sockets: 6, cores: 1, threads: 1 });
    assert.equal(d.vm.nics[1]?.network, '');
    assert.equal(d.warnings.length, 2);
  });
});

describe('OVF vApps, compressed and chunked files, OVF 0.9', () => {
  const vm = (name: string, diskMiB: number) => ({
    name,
    cpus: 1,
    memoryMiB: 128,
    firmware: 'bios' as const,
    disks: [
      {
        controller: 'sata' as const,
        capacityBytes: diskMiB * 2 ** 20,
        populatedBytes: 0,
        fileName: `${name}-disk1.vmdk.gz`,
        fileSize: 1000,
      },
    ],
    nics: [],
  });
  const vapp = writeOvf([vm('web', 16), vm('db', 32)], 1, {
    vappName: 'two-tier',
    compression: 'gzip',
    chunkSizeBytes: 4 * 2 ** 20,
  });

  it('picks the vApp VM the import names, with its own disks only', () => {
    const d = parseOvfDescriptor(vapp, { virtualMachineName: 'db' });
    assert.equal(d.vm.name, 'db');
    assert.deepEqual(
      d.disks.map((x) => [
        x.diskId,
        x.capacityBytes,
        x.file?.href,
        x.file?.compression,
        x.file?.chunkSizeBytes,
      ]),
      [['vmdisk2', 32 * 2 ** 20, 'db-disk1.vmdk.gz', 'gzip', 4 * 2 ** 20]],
    );
    assert.match(d.warnings.join('\n'), /vApp of 2 VMs; importing "db"/);
  });

  it('lists the VMs when the import names none or another', () => {
    for (const name of [undefined, 'nope']) {
      assert.match(
        reasonOf(() => parseOvfDescriptor(vapp, name === undefined ? {} : { virtualMachineName: name })),
        /^VirtualMachineNotFound: the OVA holds a vApp \(VirtualSystemCollection\) of 2 VMs: "web", "db"/,
      );
    }
  });

  it('reads an OVF 0.9 envelope (generic Sections, Content, InstanceId)', () => {
    const ovf09 = `<?xml version="1.0"?>
<ovf:Envelope xmlns:ovf="http://www.vmware.com/schema/ovf/1/envelope" xmlns="http://www.vmware.com/schema/ovf/1/envelope" xmlns:rasd="${RASD}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ovf:version="0.9">
  <References><File ovf:href="a-disk1.vmdk" ovf:id="f1" ovf:size="68096"/></References>
  <Section xsi:type="ovf:DiskSection_Type"><Info>d</Info>
    <Disk ovf:diskId="system" ovf:fileRef="f1" ovf:format="http://www.vmware.com/specifications/vmdk.html#sparse" ovf:capacity="1048576"/>
  </Section>
  <Content ovf:id="CentOS" xsi:type="ovf:VirtualSystem_Type"><Info>vm</Info>
    <Section xsi:type="ovf:VirtualHardwareSection_Type"><Info>hw</Info>
      <Item><rasd:InstanceId>1</rasd:InstanceId><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>2</rasd:VirtualQuantity></Item>
      <Item><rasd:InstanceId>2</rasd:InstanceId><rasd:ResourceType>4</rasd:ResourceType><rasd:AllocationUnits>MegaBytes</rasd:AllocationUnits><rasd:VirtualQuantity>512</rasd:VirtualQuantity></Item>
      <Item><rasd:InstanceId>3</rasd:InstanceId><rasd:ResourceType>6</rasd:ResourceType></Item>
      <Item><rasd:InstanceId>4</rasd:InstanceId><rasd:ResourceType>17</rasd:ResourceType><rasd:HostResource>/disk/system</rasd:HostResource><rasd:Parent>3</rasd:Parent></Item>
    </Section>
  </Content>
</ovf:Envelope>`;
    const d = parseOvfDescriptor(ovf09);
    assert.equal(d.ovfVersion, 0.9);
    assert.equal(d.vm.name, 'CentOS');
    assert.equal(d.vm.memoryMiB, 512);
    assert.deepEqual(d.vm.cpu, { sockets: 2, cores: 1, threads: 1 });
    assert.deepEqual(
      d.disks.map((x) => [x.file?.href, x.capacityBytes, x.bus]),
      [['a-disk1.vmdk', 1048576, 'scsi']],
    );
  });
});

describe('OVF allocation units', () => {
  it('understands programmatic units and common names', () => {
    assert.equal(bytesPerUnit('byte'), 1);
    assert.equal(bytesPerUnit('byte * 2^20'), 2 ** 20);
    assert.equal(bytesPerUnit('byte*2^30'), 2 ** 30);
    assert.equal(bytesPerUnit('byte * 1024'), 1024);
    assert.equal(bytesPerUnit('byte * 2^10 * 1024'), 2 ** 20);
    assert.equal(bytesPerUnit('MegaBytes'), 2 ** 20);
    assert.equal(bytesPerUnit('KB'), 1024);
    assert.equal(bytesPerUnit('gigabytes'), 2 ** 30);
    assert.equal(bytesPerUnit('TB'), 2 ** 40);
    assert.equal(bytesPerUnit('hertz * 10^6'), undefined);
    assert.equal(bytesPerUnit('byte * lots'), undefined);
    assert.equal(toBytes('256', undefined, 2 ** 20), 256 * 2 ** 20);
    assert.equal(toBytes('4', 'byte * 2^30', 1), 4 * 2 ** 30);
    assert.equal(toBytes('-1', 'byte', 1), undefined);
    assert.equal(toBytes('', 'byte', 1), undefined);
  });
});

describe('OVF controller and NIC mapping', () => {
  it('maps controllers to buses by sub-type first, then by ResourceType', () => {
    const cases: [number, string | undefined, string | undefined][] = [
      [6, 'VirtualSCSI', 'scsi'],
      [6, 'lsilogic', 'scsi'],
      [6, 'lsilogicsas', 'scsi'],
      [6, 'buslogic', 'scsi'],
      [6, undefined, 'scsi'],
      [5, undefined, 'sata'],
      [5, 'PIIX4', 'sata'],
      [5, 'PIIX3', 'sata'],
      [20, 'vmware.sata.ahci', 'sata'],
      [20, 'AHCI', 'sata'],
      [20, 'vmware.nvme.controller', 'virtio'],
      [20, undefined, undefined],
      [23, undefined, 'usb'],
      [6, 'something-new', 'scsi'],
    ];
    for (const [type, sub, bus] of cases) assert.equal(busForController(type, sub), bus, `${type}/${sub}`);
  });

  it('maps NIC sub-types to KubeVirt models', () => {
    assert.equal(nicModelForSubType('VmxNet3'), 'virtio');
    assert.equal(nicModelForSubType('vmxnet2'), 'virtio');
    assert.equal(nicModelForSubType('E1000'), 'e1000');
    assert.equal(nicModelForSubType('E1000e'), 'e1000e');
    assert.equal(nicModelForSubType('PCNet32'), 'pcnet');
    assert.equal(nicModelForSubType('rtl8139'), 'rtl8139');
    assert.equal(nicModelForSubType('Sriov'), undefined);
    assert.equal(nicModelForSubType(undefined), undefined);
  });
});
