// vSphere device types → KubeVirt disk buses and NIC models. One table each, looked up by the
// device's exact vim25 type (xsi:type), so SCSI0:0 and SATA0:0 can never be confused (upstream
// matched substrings of the lease's DeviceId and keyed disks by bus/unit only).
import type { DiskBus, NicModel } from '../types.ts';

/**
 * Controller type → bus. All SCSI controllers (incl. PVSCSI) become KubeVirt `scsi` (virtio-scsi:
 * the guest needs a virtio-scsi driver whichever SCSI HBA it had). SATA/AHCI and IDE become `sata`
 * (KubeVirt has no IDE; AHCI drivers are universal). NVMe becomes `virtio` (KubeVirt has no NVMe).
 */
export const DISK_BUS_BY_CONTROLLER: Readonly<Record<string, DiskBus>> = {
  ParaVirtualSCSIController: 'scsi',
  VirtualLsiLogicController: 'scsi',
  VirtualLsiLogicSASController: 'scsi',
  VirtualBusLogicController: 'scsi',
  VirtualSCSIController: 'scsi',
  VirtualAHCIController: 'sata',
  VirtualSATAController: 'sata',
  VirtualIDEController: 'sata',
  VirtualNVMEController: 'virtio',
  VirtualUSBController: 'usb',
  VirtualUSBXHCIController: 'usb',
};

/** Ethernet card type → model (as upstream's generateNetworkInfos). Other cards are kept with the default model. */
export const NIC_MODEL_BY_DEVICE: Readonly<Record<string, NicModel>> = {
  VirtualVmxnet: 'virtio',
  VirtualVmxnet2: 'virtio',
  VirtualVmxnet3: 'virtio',
  VirtualVmxnet3Vrdma: 'virtio',
  VirtualE1000: 'e1000',
  VirtualE1000e: 'e1000e',
  VirtualPCNet32: 'pcnet',
};

export function diskBusForController(controllerType: string | undefined): DiskBus | undefined {
  return controllerType === undefined ? undefined : DISK_BUS_BY_CONTROLLER[controllerType];
}

export function nicModelForDevice(deviceType: string | undefined): NicModel | undefined {
  return deviceType === undefined ? undefined : NIC_MODEL_BY_DEVICE[deviceType];
}
