// The VM as a SourceVm: describeVmwareVm reads its properties from the PropertyCollector, the
// pure functions below map them (hardware, guest OS, disks in boot order, NICs).
import { guestOsFromVsphere } from '../../guest-os.ts';
import type { SourceDisk, SourceNic, SourceVm } from '../types.ts';
import type { VmwareConnection } from './connection.ts';
import {
  datacenterNetworks,
  findDatacenter,
  findVm,
  retrieveObjectProperties,
  type VmLocation,
} from './inventory.ts';
import { withVimSession } from './session.ts';
import { diskBusForController, nicModelForDevice } from './hardware-mapping.ts';
import { arrayItems, asArray, bool, child, num, text, xsiType, type SoapNode } from './soap-values.ts';

/** The VM properties describeVm reads (one RetrievePropertiesEx). */
export const VM_DESCRIBE_PROPERTIES = [
  'name',
  'config.hardware.numCPU',
  'config.hardware.numCoresPerSocket',
  'config.hardware.memoryMB',
  'config.hardware.device',
  'config.firmware',
  'config.bootOptions',
  'summary.config.tpmPresent',
  'config.guestId',
  'config.guestFullName',
] as const;

export interface VmDevice {
  type: string;
  key: number;
  node: SoapNode;
}

export function vmDevices(deviceArray: unknown): VmDevice[] {
  return arrayItems(deviceArray).flatMap((node) => {
    const type = xsiType(node);
    const key = num(child(node, 'key'));
    return type && key !== undefined ? [{ type, key, node: node as SoapNode }] : [];
  });
}

/** Every ethernet card is kept (B18: none is dropped); unknown types get the default model. */
const isEthernetCard = (d: VmDevice) =>
  nicModelForDevice(d.type) !== undefined ||
  d.type === 'VirtualSriovEthernetCard' ||
  (xsiType(child(d.node, 'backing')) ?? '').startsWith('VirtualEthernetCard');

export interface VmDisk {
  key: number;
  controllerKey: number;
  controllerType: string | undefined;
  busNumber: number | undefined;
  unitNumber: number | undefined;
  sizeBytes: number;
  label: string;
}

/** Virtual disks with their controller, in boot order: a disk named in bootOrder first. */
export function vmDisks(devices: VmDevice[], bootOptions: unknown): VmDisk[] {
  const byKey = new Map(devices.map((d) => [d.key, d]));
  const disks = devices
    .filter((d) => d.type === 'VirtualDisk')
    .map((d, i): VmDisk => {
      const controllerKey = num(child(d.node, 'controllerKey')) ?? -1;
      const controller = byKey.get(controllerKey);
      const bytes = num(child(d.node, 'capacityInBytes'));
      const kb = num(child(d.node, 'capacityInKB')) ?? 0;
      return {
        key: d.key,
        controllerKey,
        controllerType: controller?.type,
        busNumber: controller ? num(child(controller.node, 'busNumber')) : undefined,
        unitNumber: num(child(d.node, 'unitNumber')),
        sizeBytes: bytes && bytes > 0 ? bytes : kb * 1024,
        label: text(child(child(d.node, 'deviceInfo'), 'label')) ?? `Hard disk ${i + 1}`,
      };
    });
  const bootDiskKeys = asArray(child(bootOptions, 'bootOrder'))
    .filter((b) => xsiType(b) === 'VirtualMachineBootOptionsBootableDiskDevice')
    .map((b) => num(child(b, 'deviceKey')));
  const first = bootDiskKeys.find((k) => disks.some((d) => d.key === k));
  return first === undefined
    ? disks
    : [...disks.filter((d) => d.key === first), ...disks.filter((d) => d.key !== first)];
}

/** Network name of a NIC: distributed portgroups by key, standard ones by name, else the summary. */
export function nicNetworkName(nic: SoapNode, networkNamesByRef: ReadonlyMap<string, string>): string {
  const backing = child(nic, 'backing');
  const kind = xsiType(backing);
  if (kind === 'VirtualEthernetCardDistributedVirtualPortBackingInfo') {
    const key = text(child(child(backing, 'port'), 'portgroupKey'));
    const name = key ? networkNamesByRef.get(key) : undefined;
    if (name) return name;
  }
  if (kind === 'VirtualEthernetCardNetworkBackingInfo') {
    const name = text(child(backing, 'deviceName'));
    if (name) return name;
    const net = text(child(backing, 'network'));
    if (net && networkNamesByRef.get(net)) return networkNamesByRef.get(net)!;
  }
  return text(child(child(nic, 'deviceInfo'), 'summary')) ?? '';
}

export function describeVmProperties(
  props: ReadonlyMap<string, unknown>,
  networkNamesByRef: ReadonlyMap<string, string>,
): SourceVm {
  const numCPU = Math.max(1, num(props.get('config.hardware.numCPU')) ?? 1);
  const perSocket = num(props.get('config.hardware.numCoresPerSocket')) ?? 1;
  // B1: sockets = numCPU / coresPerSocket, cores = coresPerSocket (upstream had them inverted).
  const cores = perSocket > 0 && numCPU % perSocket === 0 ? perSocket : 1;
  const devices = vmDevices(props.get('config.hardware.device'));
  const bootOptions = props.get('config.bootOptions');
  const efi = (text(props.get('config.firmware')) ?? 'bios').toLowerCase() === 'efi';
  const tpm =
    bool(props.get('summary.config.tpmPresent')) === true || devices.some((d) => d.type === 'VirtualTPM');

  const disks: SourceDisk[] = vmDisks(devices, bootOptions).map((d, index) => {
    const bus = diskBusForController(d.controllerType);
    return { index, sizeBytes: d.sizeBytes, label: d.label, ...(bus ? { bus } : {}) };
  });
  const nics: SourceNic[] = devices.filter(isEthernetCard).map((d) => {
    const model = nicModelForDevice(d.type);
    const mac = text(child(d.node, 'macAddress'));
    return {
      network: nicNetworkName(d.node, networkNamesByRef),
      ...(mac ? { mac } : {}),
      ...(model ? { model } : {}),
    };
  });
  return {
    name: text(props.get('name')) ?? '',
    cpu: { sockets: numCPU / cores, cores, threads: 1 },
    memoryMiB: num(props.get('config.hardware.memoryMB')) ?? 0,
    firmware: {
      type: efi ? 'efi' : 'bios',
      secureBoot: efi && bool(child(bootOptions, 'efiSecureBootEnabled')) === true,
      tpm,
    },
    disks,
    nics,
    guestOs: guestOsFromVsphere(text(props.get('config.guestId')), text(props.get('config.guestFullName'))),
  };
}

/** The VM as a SourceVm (CPU, memory, firmware, disks with bus, NICs with network and model). */
export async function describeVmwareVm(
  conn: VmwareConnection,
  dc: string,
  vm: VmLocation,
): Promise<SourceVm> {
  return withVimSession(conn, async (s) => {
    const datacenter = await findDatacenter(s, dc);
    const ref = await findVm(s, dc, vm);
    const [props, networks] = await Promise.all([
      retrieveObjectProperties(s, ref, [...VM_DESCRIBE_PROPERTIES]),
      datacenterNetworks(s, datacenter),
    ]);
    const names = new Map([...networks].map(([key, n]) => [key, n.name]));
    return describeVmProperties(props, names);
  });
}
