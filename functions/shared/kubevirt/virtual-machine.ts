// The KubeVirt VirtualMachine for an imported VM (upstream's GenerateVirtualMachine) with three
// corrections: CPU topology as the source has it, memory in Mi, NICs on unmapped networks kept.
import type { DiskBus, SourceVm } from '../sources/types.ts';
import type { VirtualMachineImportSpec } from '../api/index.ts';
import { labelValue } from '../naming.ts';
import { LABEL_IMPORTED, LABEL_IMPORT_NAME, LABEL_IMPORT_UID, LABEL_VM_NAME } from '../labels.ts';
import {
  mapNetworks,
  type KubevirtInterface,
  type KubevirtNetwork,
  type NetworkLayout,
} from './network-mapping.ts';

export type RunStrategy = 'RerunOnFailure' | 'Always' | 'Halted' | 'Manual';

export interface KubevirtDisk {
  name: string;
  bootOrder: number;
  disk: { bus: DiskBus };
}

export interface KubevirtVolume {
  name: string;
  persistentVolumeClaim: { claimName: string };
}

export interface KubevirtFirmware {
  bootloader: { efi: { secureBoot: boolean; persistent?: boolean } } | { bios: Record<string, never> };
}

export interface VirtualMachineManifest {
  apiVersion: 'kubevirt.io/v1';
  kind: 'VirtualMachine';
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: {
    runStrategy: RunStrategy;
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        evictionStrategy: 'LiveMigrateIfPossible';
        domain: {
          cpu: { sockets: number; cores: number; threads: number };
          memory: { guest: string };
          resources: { limits: { cpu: string; memory: string } };
          features: { acpi: { enabled: boolean }; smm?: { enabled: boolean } };
          firmware: KubevirtFirmware;
          devices: {
            disks: KubevirtDisk[];
            interfaces: KubevirtInterface[];
            tpm?: { persistent?: boolean };
          };
        };
        networks: KubevirtNetwork[];
        volumes: KubevirtVolume[];
      };
    };
  };
}

export interface BuildVirtualMachineInput {
  /** status.importedVirtualMachineName. */
  name: string;
  namespace: string;
  importName: string;
  importUid: string;
  vm: SourceVm;
  spec: VirtualMachineImportSpec;
  /** One per disk, in the order of the disks (disk-0, disk-1, …). */
  volumes: { claimName: string; bus: DiskBus; bootOrder: number }[];
  /** Result of mapNetworks() when the caller already has it (for its `unmapped` message). */
  networkLayout?: NetworkLayout;
  /** Default RerunOnFailure: the VM starts at once, as upstream. */
  runStrategy?: RunStrategy;
  /**
   * Keep EFI variables and TPM state across restarts (`persistent: true`). Needs KubeVirt's
   * VMPersistentState feature and a vmStateStorageClass; off by default, as upstream.
   */
  persistentState?: boolean;
}

const atLeastOne = (n: number) => (Number.isFinite(n) && n >= 1 ? Math.floor(n) : 1);

export function diskName(index: number): string {
  return `disk-${index}`;
}

export function buildVirtualMachine(input: BuildVirtualMachineInput): VirtualMachineManifest {
  const { vm } = input;
  const layout = input.networkLayout ?? mapNetworks(vm.nics, input.spec, input.namespace);
  const cpu = {
    sockets: atLeastOne(vm.cpu.sockets),
    cores: atLeastOne(vm.cpu.cores),
    threads: atLeastOne(vm.cpu.threads),
  };
  const memory = `${atLeastOne(vm.memoryMiB)}Mi`;
  const efi = vm.firmware.type === 'efi';
  const persistent = input.persistentState ? { persistent: true } : {};

  const disks: KubevirtDisk[] = input.volumes.map((v, i) => ({
    name: diskName(i),
    bootOrder: v.bootOrder,
    disk: { bus: v.bus },
  }));
  const volumes: KubevirtVolume[] = input.volumes.map((v, i) => ({
    name: diskName(i),
    persistentVolumeClaim: { claimName: v.claimName },
  }));

  const labels: Record<string, string> = {
    [LABEL_IMPORTED]: 'true',
    [LABEL_IMPORT_NAME]: labelValue(input.importName),
    [LABEL_IMPORT_UID]: labelValue(input.importUid),
  };
  const features: VirtualMachineManifest['spec']['template']['spec']['domain']['features'] = {
    acpi: { enabled: true },
  };
  // Secure Boot needs SMM; so does a TPM under OVMF (upstream: UEFI and (SB or TPM)).
  if (efi && (vm.firmware.secureBoot || vm.firmware.tpm)) features.smm = { enabled: true };
  const firmware: KubevirtFirmware = efi
    ? // secureBoot is always written: KubeVirt turns it on when it is left out.
      { bootloader: { efi: { secureBoot: vm.firmware.secureBoot, ...persistent } } }
    : { bootloader: { bios: {} } };

  const devices: VirtualMachineManifest['spec']['template']['spec']['domain']['devices'] = {
    disks,
    interfaces: layout.interfaces,
  };
  // KubeVirt's vTPM needs OVMF; upstream drops a TPM on BIOS VMs too.
  if (efi && vm.firmware.tpm) devices.tpm = { ...persistent };

  const manifest: VirtualMachineManifest = {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { name: input.name, namespace: input.namespace, labels },
    spec: {
      runStrategy: input.runStrategy ?? 'RerunOnFailure',
      template: {
        metadata: { labels: { [LABEL_VM_NAME]: input.name } },
        spec: {
          evictionStrategy: 'LiveMigrateIfPossible',
          domain: {
            cpu,
            memory: { guest: memory },
            resources: { limits: { cpu: String(cpu.sockets * cpu.cores * cpu.threads), memory } },
            features,
            firmware,
            devices,
          },
          networks: layout.networks,
          volumes,
        },
      },
    },
  };
  if (vm.annotations && Object.keys(vm.annotations).length > 0) {
    manifest.metadata.annotations = { ...vm.annotations };
  }
  return manifest;
}
