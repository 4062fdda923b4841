// OVF (CIM) device descriptions → KubeVirt disk buses and NIC models. One table for the OVA path,
// so a given controller type maps the same way wherever it appears (upstream mapped
// VirtualSCSI to scsi here but pvscsi to sata for VMware, and PIIX4 IDE to the default bus).
import type { DiskBus, NicModel } from '../types.ts';

/** CIM_ResourceAllocationSettingData.ResourceType values used by OVF descriptors. */
export const ResourceType = {
  other: 1,
  processor: 3,
  memory: 4,
  ideController: 5,
  parallelScsiHba: 6,
  ethernetAdapter: 10,
  cdDrive: 15,
  dvdDrive: 16,
  diskDrive: 17,
  otherStorageDevice: 20,
  usbController: 23,
} as const;

// First match wins; sub-types as written by ovftool/VirtualBox/others, compared lower-cased.
const CONTROLLER_SUBTYPE_RULES: [test: (s: string) => boolean, bus: DiskBus][] = [
  [(s) => s.includes('nvme'), 'virtio'],
  [(s) => s.includes('ahci') || s.includes('sata'), 'sata'],
  [(s) => s.includes('piix') || s.includes('ide'), 'sata'],
  [
    (s) =>
      s.includes('scsi') || s.includes('lsilogic') || s.includes('buslogic') || s.includes('paravirtual'),
    'scsi',
  ],
  [(s) => s.includes('usb'), 'usb'],
  [(s) => s === 'virtio', 'virtio'],
];

/**
 * Bus for a disk attached to a controller with this ResourceType and ResourceSubType.
 * undefined = unknown controller: the import's defaultDiskBusType applies.
 */
export function busForController(resourceType: number, subType: string | undefined): DiskBus | undefined {
  const sub = subType?.trim().toLowerCase() ?? '';
  if (sub !== '') {
    for (const [test, bus] of CONTROLLER_SUBTYPE_RULES) if (test(sub)) return bus;
  }
  switch (resourceType) {
    case ResourceType.ideController:
      return 'sata';
    case ResourceType.parallelScsiHba:
      return 'scsi';
    case ResourceType.usbController:
      return 'usb';
    default:
      return undefined;
  }
}

const NIC_MODELS: Record<string, NicModel> = {
  vmxnet: 'virtio',
  vmxnet2: 'virtio',
  vmxnet3: 'virtio',
  virtio: 'virtio',
  e1000: 'e1000',
  e1000e: 'e1000e',
  pcnet32: 'pcnet',
  pcnet: 'pcnet',
  rtl8139: 'rtl8139',
  ne2k_pci: 'ne2k_pci',
};

/** NIC model for an Ethernet item's ResourceSubType; undefined = default model. */
export function nicModelForSubType(subType: string | undefined): NicModel | undefined {
  if (subType === undefined) return undefined;
  return NIC_MODELS[subType.trim().toLowerCase()];
}

/** Controller ResourceTypes a disk drive can hang off. */
export function isStorageController(resourceType: number): boolean {
  return (
    resourceType === ResourceType.ideController ||
    resourceType === ResourceType.parallelScsiHba ||
    resourceType === ResourceType.otherStorageDevice ||
    resourceType === ResourceType.usbController
  );
}
