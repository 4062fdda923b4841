// Pure interpretation of Nova/Cinder/Neutron payloads: picking a server by name, boot order of
// its disks, firmware from image properties, NICs in port order, and the SourceVm. No I/O, and
// every field is read defensively (upstream panicked on unexpected payloads).
import { guestOsFromGlance } from '../../guest-os.ts';
import { SourceError } from '../source-error.ts';
import type { DiskBus, NicModel, SourceDisk, SourceNic, SourceVm } from '../types.ts';

export const GIB = 1024 * 1024 * 1024;

export interface NovaServer {
  id: string;
  name: string;
  status: string;
  description?: string | null;
  image?: { id?: string } | string | null;
  flavor?: { id?: string; vcpus?: number; ram?: number; disk?: number };
  'os-extended-volumes:volumes_attached'?: Array<{ id?: string }>;
  'OS-EXT-SRV-ATTR:root_device_name'?: string;
  'OS-EXT-STS:task_state'?: string | null;
}

export interface CinderVolume {
  id: string;
  name?: string | null;
  size: number;
  status?: string;
  bootable?: string | boolean;
  attachments?: Array<{ server_id?: string; device?: string }>;
  volume_image_metadata?: Record<string, unknown>;
}

export interface InterfaceAttachment {
  port_id?: string;
  net_id?: string;
  mac_addr?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string): boolean => UUID.test(s);

/** Nova filters `name` as a regular expression; this one matches exactly `name`. */
export function exactNameRegex(name: string): string {
  return `^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
}

/** The one server named exactly `name` among Nova's (regex-filtered) answer. */
export function pickServerByName<T extends { id: string; name: string }>(name: string, servers: T[]): T {
  const exact = servers.filter((s) => s.name === name);
  if (exact.length === 1) return exact[0]!;
  if (exact.length === 0)
    throw new SourceError('ServerNotFound', `No OpenStack server is named "${name}" in this project.`);
  throw new SourceError(
    'ServerNameNotUnique',
    `${exact.length} OpenStack servers are named "${name}" (IDs ${exact.map((s) => s.id).join(', ')}); set spec.virtualMachineName to the ID of the one to import.`,
  );
}

export function imageIdOf(server: NovaServer): string | undefined {
  const img = server.image;
  if (img && typeof img === 'object' && typeof img.id === 'string' && img.id) return img.id;
  return undefined;
}

export function isImageBooted(server: NovaServer): boolean {
  return imageIdOf(server) !== undefined;
}

export function attachedVolumeIds(server: NovaServer): string[] {
  return (server['os-extended-volumes:volumes_attached'] ?? [])
    .map((v) => v?.id)
    .filter((id): id is string => typeof id === 'string' && id.length > 0);
}

const isBootable = (v: CinderVolume): boolean => v.bootable === true || v.bootable === 'true';

function deviceOf(v: CinderVolume, serverId: string): string | undefined {
  const a = (v.attachments ?? []).find((x) => x.server_id === serverId) ?? v.attachments?.[0];
  return typeof a?.device === 'string' ? a.device : undefined;
}

/** Device names in disk order: vda < vdb < … < vdz < vdaa. */
function compareDevices(a: string | undefined, b: string | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return 1;
  if (b === undefined) return -1;
  return a.length - b.length || a.localeCompare(b);
}

/**
 * Boot order of a volume-booted server's volumes: the root volume (attached at the server's root
 * device, or else the bootable volume on the lowest device) first, the others by device name.
 */
export function volumesInBootOrder(server: NovaServer, volumes: CinderVolume[]): CinderVolume[] {
  const rootDevice = server['OS-EXT-SRV-ATTR:root_device_name'];
  const byDevice = [...volumes].sort((a, b) =>
    compareDevices(deviceOf(a, server.id), deviceOf(b, server.id)),
  );
  if (isImageBooted(server)) return byDevice;
  const root =
    (rootDevice && byDevice.find((v) => deviceOf(v, server.id) === rootDevice)) ||
    byDevice.find(isBootable) ||
    byDevice[0];
  return root ? [root, ...byDevice.filter((v) => v !== root)] : byDevice;
}

/** Firmware from Glance image properties (or a volume's volume_image_metadata); BIOS when unknown. */
export function firmwareFromImageProperties(
  props: Record<string, unknown> | undefined,
): SourceVm['firmware'] {
  const str = (k: string): string | undefined => {
    const v = props?.[k];
    return typeof v === 'string' ? v.trim().toLowerCase() : undefined;
  };
  const efi = str('hw_firmware_type') === 'uefi';
  const secureBoot = efi && ['required', 'optional'].includes(str('os_secure_boot') ?? '');
  const tpm = Boolean(str('hw_tpm_model') || str('hw_tpm_version'));
  return { type: efi ? 'efi' : 'bios', secureBoot, tpm };
}

/** NICs in port order, named by network; MACs lower-cased. */
export function nicsInPortOrder(
  ports: InterfaceAttachment[],
  networkNames: Map<string, string>,
): SourceNic[] {
  return ports.map((p) => ({
    network: (p.net_id && networkNames.get(p.net_id)) || p.net_id || 'unknown',
    ...(p.mac_addr ? { mac: p.mac_addr.toLowerCase() } : {}),
  }));
}

export interface DescribeInput {
  server: NovaServer;
  flavor: { vcpus: number; ram: number; disk?: number };
  /** Attached volumes, already in boot order. */
  volumes: CinderVolume[];
  /** Properties of the boot image (image-booted) or the boot volume's volume_image_metadata. */
  bootImageProperties?: Record<string, unknown>;
  nics: SourceNic[];
}

export function rootDiskLabel(server: NovaServer): string {
  return `root disk of server ${server.id}`;
}

// Nova's libvirt driver attaches disks and NICs as the image properties hw_disk_bus and
// hw_vif_model say, virtio when unset (KVM).
const BUS_BY_HW_DISK_BUS: Readonly<Record<string, DiskBus>> = {
  virtio: 'virtio',
  scsi: 'scsi',
  sata: 'sata',
  ide: 'sata',
  usb: 'usb',
};
const MODEL_BY_HW_VIF_MODEL: Readonly<Record<string, NicModel>> = {
  virtio: 'virtio',
  e1000: 'e1000',
  e1000e: 'e1000e',
  rtl8139: 'rtl8139',
  ne2k_pci: 'ne2k_pci',
  pcnet: 'pcnet',
};
const lowerProp = (props: Record<string, unknown> | undefined, key: string) => {
  const v = props?.[key];
  return typeof v === 'string' ? v.trim().toLowerCase() : undefined;
};
export function diskBusFromImageProperties(props: Record<string, unknown> | undefined): DiskBus {
  return BUS_BY_HW_DISK_BUS[lowerProp(props, 'hw_disk_bus') ?? 'virtio'] ?? 'virtio';
}
export function nicModelFromImageProperties(props: Record<string, unknown> | undefined): NicModel {
  return MODEL_BY_HW_VIF_MODEL[lowerProp(props, 'hw_vif_model') ?? 'virtio'] ?? 'virtio';
}

/** The SourceVm: sockets = vCPUs, 1 core, 1 thread; memory in MiB; disks in boot order. */
export function toSourceVm(input: DescribeInput): SourceVm {
  const { server, flavor } = input;
  const disks: SourceDisk[] = [];
  const bus = diskBusFromImageProperties(input.bootImageProperties);
  const model = nicModelFromImageProperties(input.bootImageProperties);
  if (isImageBooted(server))
    disks.push({ index: 0, sizeBytes: (flavor.disk ?? 0) * GIB, label: rootDiskLabel(server), bus });
  for (const v of input.volumes)
    disks.push({ index: disks.length, sizeBytes: v.size * GIB, label: `volume ${v.id}`, bus });
  const description = typeof server.description === 'string' ? server.description : '';
  return {
    name: server.name,
    cpu: { sockets: Math.max(1, flavor.vcpus), cores: 1, threads: 1 },
    memoryMiB: flavor.ram,
    firmware: firmwareFromImageProperties(input.bootImageProperties),
    disks,
    nics: input.nics.map((n) => ({ ...n, model: n.model ?? model })),
    guestOs: guestOsFromGlance(input.bootImageProperties),
    ...(description ? { annotations: { 'field.cattle.io/description': description } } : {}),
  };
}

/** The flavor's vCPUs and RAM, from the embedded flavor (≥ 2.47) or a /flavors answer. */
export function flavorFigures(flavor: unknown): { vcpus: number; ram: number; disk: number } | undefined {
  const f = flavor as { vcpus?: unknown; ram?: unknown; disk?: unknown } | undefined;
  if (typeof f?.vcpus === 'number' && typeof f.ram === 'number')
    return { vcpus: f.vcpus, ram: f.ram, disk: typeof f.disk === 'number' ? f.disk : 0 };
  return undefined;
}
