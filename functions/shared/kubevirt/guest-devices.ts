// Which disk bus and NIC model the imported VM gets, from the guest's operating system and
// whether it has virtio drivers. The one table for every source (README "Guest operating system
// and devices"):
//
// | source device (its KubeVirt equivalent)   | guest with virtio drivers | guest without (Windows, unknown, other) |
// |-------------------------------------------|---------------------------|-----------------------------------------|
// | SCSI HBA: PVSCSI, LSI Logic, BusLogic (scsi) | scsi (virtio-scsi)     | sata                                    |
// | NVMe, virtio-blk (virtio)                 | virtio                    | sata                                    |
// | SATA / AHCI / IDE (sata)                  | sata                      | sata                                    |
// | USB (usb)                                 | usb                       | usb                                     |
// | unknown controller                        | spec.defaultDiskBusType, else virtio | spec.defaultDiskBusType, else sata |
// | vmxnet, vmxnet2, vmxnet3, virtio NIC      | virtio                    | e1000e (Windows), e1000 (others)        |
// | e1000, e1000e, pcnet, rtl8139, ne2k_pci   | as in the source          | as in the source                        |
// | unknown NIC                               | spec.defaultNetworkInterfaceModel, else virtio | spec.defaultNetworkInterfaceModel, else as vmxnet3 |
//
// The guest has virtio drivers when spec.guestHasVirtioDrivers says so; unset, when it is Linux
// (every distribution kernel carries virtio-scsi, virtio-blk and virtio-net) or when the source
// already ran it on virtio devices (an OpenStack/KVM server). Windows ships no virtio driver and
// cannot find its boot disk on virtio-scsi (harvester#4281, #2411): upstream maps PVSCSI to sata for
// that reason. Unknown guests are treated as Windows: a sata disk boots everywhere.
import type { DiskBus, GuestOs, NicModel, SourceVm } from '../sources/types.ts';
import type { VirtualMachineImportSpec } from '../api/index.ts';

/** Buses and models that need a virtio driver in the guest. */
const NEEDS_VIRTIO_BUS: ReadonlySet<DiskBus> = new Set(['scsi', 'virtio']);

export interface GuestDeviceChoice {
  virtioDrivers: boolean;
  /** Why virtioDrivers is what it is, for the condition message. */
  because: string;
}

export function virtioDriversOf(
  guest: GuestOs | undefined,
  spec: Pick<VirtualMachineImportSpec, 'guestHasVirtioDrivers'>,
): GuestDeviceChoice {
  if (spec.guestHasVirtioDrivers === true)
    return { virtioDrivers: true, because: 'spec.guestHasVirtioDrivers is true' };
  if (spec.guestHasVirtioDrivers === false)
    return { virtioDrivers: false, because: 'spec.guestHasVirtioDrivers is false' };
  if (guest?.virtioHardware) return { virtioDrivers: true, because: 'the source ran it on virtio devices' };
  if (guest?.family === 'linux') return { virtioDrivers: true, because: 'Linux kernels have virtio drivers' };
  if (guest?.family === 'windows')
    return { virtioDrivers: false, because: 'Windows has no virtio drivers unless they were installed' };
  return {
    virtioDrivers: false,
    because: `the guest operating system is ${guest?.family === 'other' ? 'not Linux or Windows' : 'unknown'}`,
  };
}

/** Disk bus for a disk whose source controller maps to `sourceBus` (undefined = not known). */
export function diskBusFor(
  sourceBus: DiskBus | undefined,
  virtioDrivers: boolean,
  spec: Pick<VirtualMachineImportSpec, 'defaultDiskBusType'>,
): DiskBus {
  if (sourceBus === undefined)
    return (spec.defaultDiskBusType || (virtioDrivers ? 'virtio' : 'sata')) as DiskBus;
  if (!virtioDrivers && NEEDS_VIRTIO_BUS.has(sourceBus)) return 'sata';
  return sourceBus;
}

/** NIC model for a NIC whose source device maps to `sourceModel` (undefined = not known). */
export function nicModelFor(
  sourceModel: NicModel | undefined,
  guest: GuestOs | undefined,
  virtioDrivers: boolean,
  spec: Pick<VirtualMachineImportSpec, 'defaultNetworkInterfaceModel'>,
): NicModel {
  const emulated: NicModel = guest?.family === 'windows' ? 'e1000e' : 'e1000';
  if (sourceModel === undefined)
    return spec.defaultNetworkInterfaceModel || (virtioDrivers ? 'virtio' : emulated);
  if (sourceModel === 'virtio' && !virtioDrivers) return emulated;
  return sourceModel;
}

/**
 * The source VM with every disk's bus and every NIC's model chosen by the table above, and the
 * sentence that explains the choice. Network mappings' networkInterfaceModel still override
 * NIC models later (they are the user's explicit word).
 */
export function withGuestDevices(
  vm: SourceVm,
  spec: Pick<
    VirtualMachineImportSpec,
    'guestHasVirtioDrivers' | 'defaultDiskBusType' | 'defaultNetworkInterfaceModel'
  >,
): { vm: SourceVm; choice: GuestDeviceChoice; message: string } {
  const choice = virtioDriversOf(vm.guestOs, spec);
  const disks = vm.disks.map((d) => ({ ...d, bus: diskBusFor(d.bus, choice.virtioDrivers, spec) }));
  const nics = vm.nics.map((n) => ({
    ...n,
    model: nicModelFor(n.model, vm.guestOs, choice.virtioDrivers, spec),
  }));
  const guest = vm.guestOs;
  const os =
    guest?.family && guest.family !== 'unknown'
      ? `${guest.family} guest${guest.name || guest.id ? ` (${guest.name ?? guest.id})` : ''}`
      : 'guest of unknown operating system';
  const buses = [...new Set(disks.map((d) => d.bus))].join('/') || 'no';
  const models = [...new Set(nics.map((n) => n.model))].join('/') || 'no';
  const message = choice.virtioDrivers
    ? `${os} with virtio drivers (${choice.because}): ${buses} disks, ${models} NICs`
    : `${os} without virtio drivers (${choice.because}): ${buses} disks, ${models} NICs; set spec.guestHasVirtioDrivers: true if the guest has them`;
  return { vm: { ...vm, disks, nics }, choice, message };
}
