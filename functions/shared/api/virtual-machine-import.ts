import { z } from 'zod';
import { Condition, optionalString, resourceSchema } from './common.ts';
import { SOURCE_KIND_LIST } from './source-kinds.ts';

/** NIC models KubeVirt accepts; "" means "not set" as upstream's generated enum allows. */
export const NIC_MODELS = ['e1000', 'e1000e', 'ne2k_pci', 'pcnet', 'rtl8139', 'virtio'] as const;
export const DISK_BUSES = ['virtio', 'sata', 'scsi', 'usb'] as const;

const NicModel = z.enum([...NIC_MODELS, '']);
const DiskBus = z.enum([...DISK_BUSES, '']);

/** status.importStatus values, upstream spelling (note diskImageSubmitted and VMMigrationFailed). */
export const ImportStatus = {
  New: '',
  Valid: 'virtualMachineImportValid',
  Invalid: 'virtualMachineImportInvalid',
  SourceReady: 'sourceReady',
  DisksExported: 'disksExported',
  DiskImagesSubmitted: 'diskImageSubmitted',
  DiskImagesReady: 'diskImagesReady',
  DiskImagesFailed: 'diskImageFailed',
  VirtualMachineCreated: 'virtualMachineCreated',
  VirtualMachineRunning: 'virtualMachineRunning',
  Failed: 'VMMigrationFailed',
} as const;
export type ImportStatus = (typeof ImportStatus)[keyof typeof ImportStatus];
const importStatusValues = Object.values(ImportStatus) as [ImportStatus, ...ImportStatus[]];

/** States after which an import never moves again. */
export const TERMINAL_IMPORT_STATUSES: readonly ImportStatus[] = [
  ImportStatus.Invalid,
  ImportStatus.VirtualMachineRunning,
  ImportStatus.Failed,
];

/** Reason of VirtualMachineStarted=False once the VM of spec.startVirtualMachine: false exists. */
export const CREATED_STOPPED_REASON = 'CreatedStopped';

/**
 * Whether an import will never move again: a terminal importStatus, or virtualMachineCreated with
 * VirtualMachineStarted=False/CreatedStopped (spec.startVirtualMachine: false).
 */
export function isTerminalImport(
  status: { importStatus?: string | null; importConditions?: readonly Condition[] | null } | null | undefined,
): boolean {
  const phase = (status?.importStatus ?? '') as ImportStatus;
  if (TERMINAL_IMPORT_STATUSES.includes(phase)) return true;
  return (
    phase === ImportStatus.VirtualMachineCreated &&
    !!status?.importConditions?.some(
      (c) =>
        c.type === ImportConditionType.VirtualMachineStarted &&
        c.status === 'False' &&
        c.reason === CREATED_STOPPED_REASON,
    )
  );
}

/**
 * Every status.importConditions[].type, in one place: upstream's power and export facts, then one
 * condition per phase step (kept by the function that owns the step) and the export Job's facts.
 */
export const ImportConditionType = {
  // upstream: the export Job's power and export facts
  ShutdownGuest: 'VMShutdownGuest',
  PoweringOff: 'VMPoweringOff',
  PoweredOff: 'VMPoweredOff',
  Exported: 'VMExported',
  ExportFailed: 'VMExportFailed',
  // one per step (functions/<step>)
  Valid: 'VirtualMachineImportValid',
  SourceReady: 'SourceReady',
  /** Kept by export (Job created / queued) and export-status (exported / failed). */
  DisksExported: 'DisksExported',
  DiskImagesSubmitted: 'DiskImagesSubmitted',
  DiskImagesReady: 'DiskImagesReady',
  VirtualMachineCreated: 'VirtualMachineCreated',
  VirtualMachineRunning: 'VirtualMachineRunning',
  /** False with reason CreatedStopped when spec.startVirtualMachine is false. */
  VirtualMachineStarted: 'VirtualMachineStarted',
  // the export Job's facts
  /** Last error of an export attempt that the Job's backoff retries; export-status quotes it. */
  ExportAttemptFailed: 'ExportAttemptFailed',
  /** The guest OS the source reports and the disk bus / NIC model choice made from it. */
  GuestOperatingSystem: 'GuestOperatingSystem',
  // preflight's storage check and the source's power-on after a failure or deletion
  StorageCapacity: 'StorageCapacity',
  SourcePoweredOn: 'SourcePoweredOn',
} as const;

/** status.diskImportStatus[].diskConditions[].type (upstream). */
export const DiskConditionType = {
  ImageSubmitted: 'VirtualMachineImageSubmitted',
  ImageReady: 'VirtualMachineImageReady',
  ImageFailed: 'VirtualMachineImageFailed',
} as const;

export const DISK_PHASES = [
  'pending',
  'exporting',
  'converting',
  'verifying',
  'exported',
  'importing',
  'ready',
  'failed',
] as const;

export const NetworkMapping = z
  .object({
    sourceNetwork: optionalString(
      'Exact (case-sensitive) name of the network in the source: a VMware portgroup (standard or distributed), an OpenStack network name, or an OVF network.',
    ),
    destinationNetwork: optionalString(
      'Multus NetworkAttachmentDefinition in Harvester, as "<name>" (in the import\'s namespace) or "<namespace>/<name>".',
    ),
    networkInterfaceModel: NicModel.nullish().describe(
      'NIC model for interfaces on this network; overrides the model detected in the source.',
    ),
  })
  .describe('Maps a source network to a Harvester network.');
export type NetworkMapping = z.infer<typeof NetworkMapping>;

export const SourceClusterReference = z
  .object({
    apiVersion: optionalString('Must be migration.harvesterhci.io/v1beta1.'),
    kind: optionalString(`${SOURCE_KIND_LIST} (case-insensitive).`),
    namespace: optionalString('Namespace of the source object.'),
    name: optionalString('Name of the source object.'),
    uid: optionalString('Ignored.'),
    resourceVersion: optionalString('Ignored.'),
    fieldPath: optionalString('Ignored.'),
  })
  .describe(`The ${SOURCE_KIND_LIST} to import from.`);

export const VirtualMachineImportSpec = z
  .object({
    sourceCluster: SourceClusterReference.nullish().describe(`The ${SOURCE_KIND_LIST} to import from.`),
    virtualMachineName: optionalString(
      'The VM to import: the VMware VM name, the OpenStack server name or ID (use the ID when names are not unique), or for OVA the name of the new VM.',
    ),
    targetName: z
      .string()
      .max(63)
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/)
      .nullish()
      .describe(
        'Name of the KubeVirt VirtualMachine to create (RFC 1123 label). Default: the source VM name, lower-cased, invalid characters replaced by "-", trimmed to 63 characters with a short hash suffix when trimmed or when the name is taken.',
      ),
    folder: optionalString(
      'VMware only: folder of the VM under the datacenter\'s "vm" folder, e.g. "Discovered VM" or "a/b".',
    ),
    networkMapping: z
      .array(NetworkMapping)
      .nullish()
      .describe(
        'Source network to Harvester network mappings. NICs on unmapped networks are kept on the pod network (masquerade), none is dropped.',
      ),
    defaultNetworkInterfaceModel: NicModel.nullish().describe(
      'NIC model when neither the mapping nor the source gives one; default virtio.',
    ),
    storageClass: optionalString(
      "StorageClass for the images and volumes; default: the cluster's default StorageClass.",
    ),
    defaultDiskBusType: DiskBus.nullish().describe('Disk bus when the source gives none; default virtio.'),
    forcePowerOff: z
      .boolean()
      .nullish()
      .describe(
        'VMware only: power the VM off at once instead of a guest shutdown (no VMware Tools needed). Default false.',
      ),
    gracefulShutdownTimeoutSeconds: z
      .number()
      .int()
      .nullish()
      .describe(
        'VMware only: seconds to wait for the guest shutdown before powering off; missing or <= 0 means 60.',
      ),
    guestHasVirtioDrivers: z
      .boolean()
      .nullish()
      .describe(
        'Whether the guest has virtio drivers. true: SCSI disks become virtio-scsi, NVMe disks virtio, paravirtual NICs virtio. false: sata disks and e1000e (Windows) or e1000 NICs. Unset: decided from the guest operating system the source reports (Linux or a guest that already ran on virtio: true; Windows and unknown guests: false). The result is in status.guestOS.',
      ),
    startVirtualMachine: z
      .boolean()
      .nullish()
      .describe(
        'Start the new VM once it is created. Default true. false: the VM is created stopped (runStrategy Halted) and the import ends in virtualMachineCreated with the condition VirtualMachineStarted=False, reason CreatedStopped.',
      ),
    powerOnSourceAfterFailure: z
      .boolean()
      .nullish()
      .describe(
        'Power the source VM back on when the import fails, or is deleted before its VM exists, after the import powered it off. Default true. A source that was off before the import is never powered on. The condition SourcePoweredOn says what happened.',
      ),
    skipPreflightChecks: z
      .boolean()
      .nullish()
      .describe(
        'Skip the source-specific checks (networks, VMware Tools) before the import starts. Default false.',
      ),
  })
  .describe('Which VM to import from which source, and how to map it into Harvester.');
export type VirtualMachineImportSpec = z.infer<typeof VirtualMachineImportSpec>;

export const DiskProgress = z
  .object({
    phase: z.enum(DISK_PHASES).describe(`Where the disk is: ${DISK_PHASES.join(', ')}.`),
    bytesDone: z.number().int().nullish().describe('Bytes of this phase done so far.'),
    bytesTotal: z.number().int().nullish().describe('Bytes this phase will handle in total, when known.'),
  })
  .describe('Progress of one disk (added by this project; not in upstream).');
export type DiskProgress = z.infer<typeof DiskProgress>;

export const DiskInfo = z
  .object({
    diskName: optionalString(
      'File name of the converted image on the scratch volume; also its URL path on the disk server.',
    ),
    diskSize: z.number().int().nullish().describe('Virtual size of the disk in bytes.'),
    diskLocalPath: optionalString('Directory of the converted image on the scratch volume.'),
    diskRoute: optionalString('Unused; kept for compatibility.'),
    VirtualMachineImage: optionalString('Name of the Harvester VirtualMachineImage created for this disk.'),
    diskConditions: z
      .array(Condition)
      .nullish()
      .describe('VirtualMachineImageSubmitted, VirtualMachineImageReady, VirtualMachineImageFailed.'),
    busType: DiskBus.nullish().describe('Bus of the disk in the new VM: virtio, sata, scsi or usb.'),
    progress: DiskProgress.nullish(),
  })
  .describe('One exported disk, in boot order.');
export type DiskInfo = z.infer<typeof DiskInfo>;

export const GUEST_FAMILIES = ['windows', 'linux', 'other', 'unknown'] as const;

export const GuestOperatingSystem = z
  .object({
    family: z.enum(GUEST_FAMILIES).describe(`Operating system family: ${GUEST_FAMILIES.join(', ')}.`),
    id: optionalString(
      "The source's identifier: a vSphere guestId, a Glance os_distro or os_type, an OVF osType.",
    ),
    name: optionalString('Human name of the operating system, when the source gives one.'),
    detectedFrom: optionalString('The source field the operating system was read from.'),
    virtioDrivers: z
      .boolean()
      .nullish()
      .describe('Whether the import assumed virtio drivers in the guest (see spec.guestHasVirtioDrivers).'),
  })
  .describe('The guest operating system the source reports, and the device choice made from it.');
export type GuestOperatingSystem = z.infer<typeof GuestOperatingSystem>;

export const VirtualMachineImportStatus = z
  .object({
    importStatus: z
      .enum(importStatusValues)
      .nullish()
      .describe(`Phase of the import: ${importStatusValues.filter(Boolean).join(', ')}.`),
    diskImportStatus: z.array(DiskInfo).nullish().describe('The exported disks, in boot order.'),
    importConditions: z
      .array(Condition)
      .nullish()
      .describe(
        'Steps of the import with reason and message: VMShutdownGuest, VMPoweringOff, VMPoweredOff, VMExported, VMExportFailed and one per phase.',
      ),
    newVirtualMachine: optionalString('Unused; kept for compatibility.'),
    importedVirtualMachineName: optionalString(
      'Name of the KubeVirt VirtualMachine created (or to be created).',
    ),
    progress: z
      .number()
      .int()
      .min(0)
      .max(100)
      .nullish()
      .describe('Overall progress in percent, from the bytes done of every disk and the phase.'),
    observedGeneration: z
      .number()
      .int()
      .nullish()
      .describe('The metadata.generation of the spec the status was computed from.'),
    guestOS: GuestOperatingSystem.nullish(),
  })
  .describe('Observed state of the import, written by the functions and the export Job.');
export type VirtualMachineImportStatus = z.infer<typeof VirtualMachineImportStatus>;

export const VirtualMachineImport = resourceSchema(
  'VirtualMachineImport',
  VirtualMachineImportSpec,
  VirtualMachineImportStatus,
  'Imports one VM from a source into Harvester: export its disks, create VirtualMachineImages, volumes and a KubeVirt VirtualMachine.',
);
export type VirtualMachineImport = z.infer<typeof VirtualMachineImport>;
