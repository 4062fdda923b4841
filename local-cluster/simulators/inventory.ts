// The inventory file of the local cluster (spec/local-stack.md, "Inventory file"): what the
// simulated vCenter, OpenStack and OVA server contain. One zod schema, types derived from it.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { z } from 'zod';

export const DEFAULT_INVENTORY_FILE = fileURLToPath(new URL('../inventory.default.yaml', import.meta.url));

const controller = z.enum(['pvscsi', 'lsilogic', 'lsilogic-sas', 'buslogic', 'sata', 'ide', 'nvme']);
const nicType = z.enum(['vmxnet', 'vmxnet2', 'vmxnet3', 'e1000', 'e1000e', 'pcnet32']);
const mac = z.string().regex(/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/, 'a MAC address like 00:50:56:01:02:03');

export const InventoryDisk = z.object({
  sizeMiB: z.number().int().positive(),
  allocatedPercent: z.number().min(0).max(100).default(100),
  seed: z.number().int().default(0),
});
export type InventoryDisk = z.infer<typeof InventoryDisk>;

const VmwareDisk = InventoryDisk.extend({ controller: controller.default('pvscsi') });
const VmwareNic = z.object({ network: z.string(), type: nicType.default('vmxnet3'), mac: mac.optional() });

export const InventoryVmwareVm = z.object({
  name: z.string().min(1),
  folder: z.string().optional(),
  powerState: z.enum(['poweredOn', 'poweredOff']).default('poweredOn'),
  toolsRunning: z.boolean().default(true),
  shutdownSeconds: z.number().min(0).default(2),
  /** vSphere guestId (VirtualMachineGuestOsIdentifier), e.g. windows2019srv_64Guest. */
  guestId: z.string().min(1).default('otherGuest64'),
  cpus: z.number().int().positive().default(1),
  coresPerSocket: z.number().int().positive().default(1),
  memoryMiB: z.number().int().positive().default(256),
  firmware: z.enum(['bios', 'efi']).default('bios'),
  secureBoot: z.boolean().default(false),
  tpm: z.boolean().default(false),
  disks: z.array(VmwareDisk).default([]),
  nics: z.array(VmwareNic).default([]),
});
export type InventoryVmwareVm = z.infer<typeof InventoryVmwareVm>;

const OpenstackVolume = InventoryDisk.extend({
  bootable: z.boolean().default(false),
  imageProperties: z.record(z.string(), z.string()).default({}),
});

export const InventoryOpenstackServer = z.object({
  name: z.string().min(1),
  id: z.uuid().optional(),
  status: z.enum(['ACTIVE', 'SHUTOFF']).default('ACTIVE'),
  flavor: z.object({ vcpus: z.number().int().positive(), ramMiB: z.number().int().positive() }),
  description: z.string().optional(),
  volumes: z.array(OpenstackVolume).default([]),
  bootFromImage: z.boolean().default(false),
  /** Root disk of an image-booted server (no volumes). */
  rootDisk: InventoryDisk.optional(),
  ports: z
    .array(z.object({ network: z.string(), mac: mac.optional(), ip: z.string().optional() }))
    .default([]),
});
export type InventoryOpenstackServer = z.infer<typeof InventoryOpenstackServer>;

const OvaVm = z.object({
  cpus: z.number().int().positive().default(1),
  coresPerSocket: z.number().int().positive().default(1),
  memoryMiB: z.number().int().positive().default(256),
  firmware: z.enum(['bios', 'efi']).default('bios'),
  secureBoot: z.boolean().default(false),
  tpm: z.boolean().default(false),
  /** The OVF OperatingSystemSection's vmw:osType (a vSphere guestId). */
  osType: z.string().min(1).optional(),
  disks: z.array(VmwareDisk).default([]),
  nics: z.array(VmwareNic).default([]),
});

export const InventoryOva = z
  .object({
    name: z.string().regex(/^[^/]+\.ova$/, 'a file name ending in .ova'),
    /** A single-VM OVA … */
    vm: OvaVm.optional(),
    /** … or a vApp (VirtualSystemCollection) of these VMs. */
    vms: z
      .array(
        OvaVm.extend({
          name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'a VM name usable as a file name'),
        }),
      )
      .min(1)
      .optional(),
    /** ovf:compression on the disk files. */
    compression: z.enum(['gzip']).optional(),
    /** Disk files split into chunks of this many MiB (ovf:chunkSize). */
    chunkSizeMiB: z.number().int().positive().optional(),
    diskFormat: z.enum(['streamOptimized', 'monolithicSparse', 'raw', 'qcow2']).default('streamOptimized'),
  })
  .refine((o) => (o.vm === undefined) !== (o.vms === undefined), {
    message: 'an OVA has either vm (one VM) or vms (a vApp)',
  })
  .refine((o) => new Set(o.vms?.map((v) => v.name)).size === (o.vms?.length ?? 0), {
    message: 'the VMs of a vApp need distinct names',
  });
export type InventoryOva = z.infer<typeof InventoryOva>;

/** The VMs of an OVA with the names their sources are kept under (`.local/sources/ova/<name>`). */
export function ovaVms(ova: InventoryOva): (z.infer<typeof OvaVm> & { name: string })[] {
  return ova.vms ?? (ova.vm ? [{ ...ova.vm, name: ova.name.replace(/\.ova$/, '') }] : []);
}

export const Inventory = z.object({
  vmware: z
    .object({
      datacenter: z.string().default('DC0'),
      networks: z
        .array(z.object({ name: z.string(), type: z.enum(['standard', 'distributed']).default('standard') }))
        .default([]),
      vms: z.array(InventoryVmwareVm).default([]),
    })
    .optional(),
  openstack: z
    .object({
      region: z.string().default('RegionOne'),
      networks: z.array(z.string()).default([]),
      servers: z.array(InventoryOpenstackServer).default([]),
    })
    .optional(),
  ova: z.array(InventoryOva).optional(),
});
export type Inventory = z.infer<typeof Inventory>;

export function parseInventory(text: string): Inventory {
  return Inventory.parse(parse(text) ?? {});
}

export async function loadInventory(file: string = DEFAULT_INVENTORY_FILE): Promise<Inventory> {
  return parseInventory(await readFile(file, 'utf8'));
}
