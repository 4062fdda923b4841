// Writes an OVF descriptor the way VMware's ovftool does: References, DiskSection, NetworkSection,
// one VirtualSystem with a vmx-* VirtualHardwareSection per VM, inside a VirtualSystemCollection
// for a vApp. Disk files may be gzip-compressed (ovf:compression) and chunked (ovf:chunkSize), as
// `ovftool --compress=N --chunkSize=…` writes them (DSP0243 §5.3). OVF 1.x puts every device
// into <Item> (rasd); OVF 2.x puts NICs into <EthernetPortItem> (epasd) and disks into
// <StorageItem> (sasd). Property elements are sorted by name, as the CIM schemas require.

export type OvaController = 'pvscsi' | 'lsilogic' | 'lsilogic-sas' | 'buslogic' | 'sata' | 'ide' | 'nvme';
export type OvaNicType = 'vmxnet' | 'vmxnet2' | 'vmxnet3' | 'e1000' | 'e1000e' | 'pcnet32';

export interface OvfVmSpec {
  name: string;
  cpus: number;
  coresPerSocket?: number;
  memoryMiB: number;
  firmware: 'bios' | 'efi';
  secureBoot?: boolean;
  tpm?: boolean;
  /** vSphere guestId (vmw:osType); default otherGuest64, as vSphere's own default. */
  osType?: string;
  disks: {
    controller: OvaController;
    capacityBytes: number;
    populatedBytes: number;
    fileName: string;
    /** Bytes as stored (compressed; all chunks together). */
    fileSize: number;
  }[];
  nics: { network: string; type: OvaNicType; mac?: string }[];
}

const NS = {
  ovf1: 'http://schemas.dmtf.org/ovf/envelope/1',
  ovf2: 'http://schemas.dmtf.org/ovf/envelope/2',
  cim: 'http://schemas.dmtf.org/wbem/wscim/1/common',
  rasd: 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData',
  vssd: 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData',
  epasd: 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_EthernetPortAllocationSettingData',
  sasd: 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_StorageAllocationSettingData',
  vmw: 'http://www.vmware.com/schema/ovf',
  xsi: 'http://www.w3.org/2001/XMLSchema-instance',
};

/** Controller as ovftool describes it: ResourceType, ResourceSubType, element name. */
const CONTROLLERS: Record<OvaController, { type: number; subType?: string; label: string }> = {
  pvscsi: { type: 6, subType: 'VirtualSCSI', label: 'SCSI controller' },
  lsilogic: { type: 6, subType: 'lsilogic', label: 'SCSI controller' },
  'lsilogic-sas': { type: 6, subType: 'lsilogicsas', label: 'SCSI controller' },
  buslogic: { type: 6, subType: 'buslogic', label: 'SCSI controller' },
  sata: { type: 20, subType: 'vmware.sata.ahci', label: 'SATA controller' },
  ide: { type: 5, label: 'IDE' },
  nvme: { type: 20, subType: 'vmware.nvme.controller', label: 'NVME controller' },
};

const NIC_SUBTYPES: Record<OvaNicType, string> = {
  vmxnet: 'VmxNet',
  vmxnet2: 'VmxNet2',
  vmxnet3: 'VmxNet3',
  e1000: 'E1000',
  e1000e: 'E1000e',
  pcnet32: 'PCNet32',
};

// ovftool writes the CIM_OperatingSystem OsType number it knows for the guestId as ovf:id, and
// 1 ("Other") for guests the CIM list does not name (e.g. recent Windows releases).
const CIM_OS_TYPE: Record<string, number> = {
  otherGuest: 1,
  otherGuest64: 102,
  otherLinuxGuest: 36,
  otherLinux64Guest: 101,
  ubuntu64Guest: 94,
  debian10_64Guest: 96,
  rhel8_64Guest: 80,
  centos64Guest: 107,
  windows7_64Guest: 105,
  windows8Server64Guest: 112,
};
const cimOsType = (osType: string) => CIM_OS_TYPE[osType] ?? 1;

export const STREAM_OPTIMIZED = 'http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized';

export type OvaDiskFormat = 'streamOptimized' | 'monolithicSparse' | 'raw' | 'qcow2';

/** DiskSection/Disk@format as the tools that write each format put it. */
export const DISK_FORMAT_URI: Record<OvaDiskFormat, string> = {
  streamOptimized: STREAM_OPTIMIZED,
  // ovftool's name for a hosted (monolithicSparse) extent.
  monolithicSparse: 'http://www.vmware.com/interfaces/specifications/vmdk.html#sparse',
  // oVirt / RHV export raw and qcow2 disks under these URIs.
  raw: 'http://en.wikipedia.org/wiki/Byte',
  qcow2: 'http://www.gnome.org/~markmc/qcow-image-format.html',
};

export interface OvfFileOptions {
  diskFormat?: OvaDiskFormat;
  compression?: 'gzip';
  chunkSizeBytes?: number;
  /** Write the VMs as a vApp (VirtualSystemCollection) with this ovf:id. */
  vappName?: string;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** One hardware item; `props` become `<prefix:Name>` children in name order, `extra` follows. */
function item(
  tag: string,
  prefix: string,
  props: Record<string, string | number | undefined>,
  extra = '',
  attrs = '',
): string {
  const lines = Object.keys(props)
    .filter((k) => props[k] !== undefined)
    .sort()
    .map((k) => `        <${prefix}:${k}>${esc(String(props[k]))}</${prefix}:${k}>`);
  return `      <${tag}${attrs}>\n${lines.join('\n')}\n${extra}      </${tag}>\n`;
}

/** One VM's VirtualSystem; its disks are vmdisk<firstDisk+1>, … */
function writeVirtualSystem(vm: OvfVmSpec, ovfVersion: 1 | 2, firstDisk: number): string {
  const nicTag = ovfVersion === 2 ? ['EthernetPortItem', 'epasd'] : ['Item', 'rasd'];
  const diskTag = ovfVersion === 2 ? ['StorageItem', 'sasd'] : ['Item', 'rasd'];
  let id = 1;
  const items: string[] = [];
  const cps = vm.coresPerSocket ?? 1;
  items.push(
    item(
      'Item',
      'rasd',
      {
        AllocationUnits: 'hertz * 10^6',
        Description: 'Number of Virtual CPUs',
        ElementName: `${vm.cpus} virtual CPU(s)`,
        InstanceID: id++,
        ResourceType: 3,
        VirtualQuantity: vm.cpus,
      },
      `        <vmw:CoresPerSocket ovf:required="false">${cps}</vmw:CoresPerSocket>\n`,
    ),
  );
  items.push(
    item('Item', 'rasd', {
      AllocationUnits: 'byte * 2^20',
      Description: 'Memory Size',
      ElementName: `${vm.memoryMiB}MB of memory`,
      InstanceID: id++,
      ResourceType: 4,
      VirtualQuantity: vm.memoryMiB,
    }),
  );
  const controllerIds = new Map<OvaController, number>();
  const perType = new Map<string, number>();
  for (const disk of vm.disks) {
    if (controllerIds.has(disk.controller)) continue;
    const c = CONTROLLERS[disk.controller];
    const n = perType.get(c.label) ?? 0;
    perType.set(c.label, n + 1);
    controllerIds.set(disk.controller, id);
    items.push(
      item('Item', 'rasd', {
        Address: n,
        Description: `${c.label}`,
        ElementName: `${c.label} ${n}`,
        InstanceID: id++,
        ResourceSubType: c.subType,
        ResourceType: c.type,
      }),
    );
  }
  const nicItems: string[] = [];
  vm.nics.forEach((nic, i) => {
    const sub = NIC_SUBTYPES[nic.type];
    nicItems.push(
      item(
        nicTag[0]!,
        nicTag[1]!,
        {
          Address: nic.mac,
          AddressOnParent: 7 + i,
          AutomaticAllocation: 'true',
          Connection: nic.network,
          Description: `${sub} ethernet adapter on "${nic.network}"`,
          ElementName: `Network adapter ${i + 1}`,
          InstanceID: id++,
          ResourceSubType: sub,
          ResourceType: 10,
        },
        '        <vmw:Config ovf:required="false" vmw:key="wakeOnLanEnabled" vmw:value="true"/>\n',
      ),
    );
  });
  const diskItems: string[] = [];
  const unitOn = new Map<OvaController, number>();
  vm.disks.forEach((disk, i) => {
    const unit = unitOn.get(disk.controller) ?? 0;
    unitOn.set(disk.controller, unit + 1);
    diskItems.push(
      item(
        diskTag[0]!,
        diskTag[1]!,
        {
          AddressOnParent: unit,
          ElementName: `Hard disk ${i + 1}`,
          HostResource: `ovf:/disk/vmdisk${firstDisk + i + 1}`,
          InstanceID: id++,
          Parent: controllerIds.get(disk.controller),
          ResourceType: 17,
        },
        '        <vmw:Config ovf:required="false" vmw:key="backing.writeThrough" vmw:value="false"/>\n',
      ),
    );
  });
  if (vm.tpm) {
    items.push(
      item(
        'Item',
        'rasd',
        {
          AutomaticAllocation: 'false',
          ElementName: 'Virtual TPM',
          InstanceID: id++,
          ResourceSubType: 'vmware.vtpm',
          ResourceType: 1,
        },
        '',
        ' ovf:required="false"',
      ),
    );
  }
  // OVF 1 keeps all Items in one list (disks before NICs, as ovftool writes them); OVF 2's
  // schema orders Item, then EthernetPortItem, then StorageItem.
  const hardware =
    ovfVersion === 2 ? [...items, ...nicItems, ...diskItems] : [...items, ...diskItems, ...nicItems];
  const config = [
    `      <vmw:Config ovf:required="false" vmw:key="cpuHotAddEnabled" vmw:value="false"/>\n`,
    `      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="${vm.firmware}"/>\n`,
    ...(vm.firmware === 'efi'
      ? [
          `      <vmw:Config ovf:required="false" vmw:key="bootOptions.efiSecureBootEnabled" vmw:value="${vm.secureBoot ? 'true' : 'false'}"/>\n`,
        ]
      : []),
    `      <vmw:Config ovf:required="false" vmw:key="tools.syncTimeWithHost" vmw:value="false"/>\n`,
  ];
  return `  <VirtualSystem ovf:id="${esc(vm.name)}">
    <Info>A virtual machine</Info>
    <Name>${esc(vm.name)}</Name>
    <OperatingSystemSection ovf:id="${cimOsType(vm.osType ?? 'otherGuest64')}" vmw:osType="${esc(vm.osType ?? 'otherGuest64')}">
      <Info>The kind of installed guest operating system</Info>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>${esc(vm.name)}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-19</vssd:VirtualSystemType>
      </System>
${hardware.join('')}${config.join('')}    </VirtualHardwareSection>
  </VirtualSystem>
`;
}

/** The descriptor of one VM, or of a vApp of several (`opts.vappName`). */
export function writeOvf(
  vms: OvfVmSpec | OvfVmSpec[],
  ovfVersion: 1 | 2 = 1,
  opts: OvfFileOptions = {},
): string {
  const list = Array.isArray(vms) ? vms : [vms];
  const ovfNs = ovfVersion === 2 ? NS.ovf2 : NS.ovf1;
  const disks = list.flatMap((vm) => vm.disks);
  const networks = [...new Set(list.flatMap((vm) => vm.nics.map((n) => n.network)))];
  const systems: string[] = [];
  let firstDisk = 0;
  for (const vm of list) {
    systems.push(writeVirtualSystem(vm, ovfVersion, firstDisk));
    firstDisk += vm.disks.length;
  }
  const fileAttrs =
    (opts.compression ? ` ovf:compression="${opts.compression}"` : '') +
    (opts.chunkSizeBytes ? ` ovf:chunkSize="${opts.chunkSizeBytes}"` : '');
  const format = DISK_FORMAT_URI[opts.diskFormat ?? 'streamOptimized'];
  const content =
    opts.vappName === undefined
      ? systems.join('')
      : `  <VirtualSystemCollection ovf:id="${esc(opts.vappName)}">
    <Info>A collection of virtual machines</Info>
    <Name>${esc(opts.vappName)}</Name>
    <StartupSection>
      <Info>VApp startup section</Info>
${list.map((vm, i) => `      <Item ovf:id="${esc(vm.name)}" ovf:order="${i}" ovf:startAction="powerOn" ovf:startDelay="0" ovf:stopAction="powerOff" ovf:stopDelay="0"/>`).join('\n')}
    </StartupSection>
${systems.map((x) => x.replace(/^/gm, '  ').replace(/^  $/gm, '')).join('')}  </VirtualSystemCollection>
`;
  const extraNs = ovfVersion === 2 ? ` xmlns:epasd="${NS.epasd}" xmlns:sasd="${NS.sasd}"` : '';
  return `<?xml version="1.0" encoding="UTF-8"?>
<!--Generated by VMware ovftool 4.6.0 (build-21452615)-->
<Envelope vmw:buildId="build-21452615" xmlns="${ovfNs}" xmlns:cim="${NS.cim}" xmlns:ovf="${ovfNs}" xmlns:rasd="${NS.rasd}" xmlns:vmw="${NS.vmw}" xmlns:vssd="${NS.vssd}" xmlns:xsi="${NS.xsi}"${extraNs}>
  <References>
${disks.map((d, i) => `    <File${fileAttrs} ovf:href="${esc(d.fileName)}" ovf:id="file${i + 1}" ovf:size="${d.fileSize}"/>`).join('\n')}
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
${disks
  .map(
    (d, i) =>
      `    <Disk ovf:capacity="${d.capacityBytes / 2 ** 20}" ovf:capacityAllocationUnits="byte * 2^20" ovf:diskId="vmdisk${i + 1}" ovf:fileRef="file${i + 1}" ovf:format="${format}" ovf:populatedSize="${d.populatedBytes}"/>`,
  )
  .join('\n')}
  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
${networks.map((n) => `    <Network ovf:name="${esc(n)}">\n      <Description>The ${esc(n)} network</Description>\n    </Network>`).join('\n')}
  </NetworkSection>
${content}</Envelope>
`;
}
