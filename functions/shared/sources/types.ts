// The contract every source client (VMware, OpenStack, OVA) fulfils for the functions and the
// export Job. Functions verify and preflight; the exporter powers off and exports; the vm function
// turns a SourceVm into a KubeVirt VirtualMachine. Clients never log or return secrets.

/** KubeVirt disk buses we produce (upstream's spellings). */
export type DiskBus = 'virtio' | 'sata' | 'scsi' | 'usb';
/** KubeVirt NIC models accepted by the API (upstream's spellings). */
export type NicModel = 'e1000' | 'e1000e' | 'ne2k_pci' | 'pcnet' | 'rtl8139' | 'virtio';

export interface SourceDisk {
  /** Position in boot order, 0-based. */
  index: number;
  /** Virtual size in bytes. */
  sizeBytes: number;
  /** Bus detected from the source controller; undefined = use spec.defaultDiskBusType. */
  bus?: DiskBus;
  /** Source-side label for messages (e.g. "Hard disk 1", a Cinder volume id, an OVF file name). */
  label: string;
  /** Bytes the source says hold data, when it knows (sizes the scratch volume). */
  allocatedBytes?: number;
}

export interface SourceNic {
  /** Network name as users write it in networkMapping[].sourceNetwork. */
  network: string;
  mac?: string;
  /** Model detected from the source device type; undefined = default model. */
  model?: NicModel;
}

/** What the source says about the guest operating system (functions/shared/guest-os.ts). */
export type GuestFamily = 'windows' | 'linux' | 'other' | 'unknown';
export interface GuestOs {
  family: GuestFamily;
  /** The source's identifier: a vSphere guestId, a Glance os_distro/os_type, an OVF osType. */
  id?: string;
  /** Human name when the source gives one (vSphere guestFullName, OVF Description). */
  name?: string;
  /** Which source field it was read from, for messages. */
  detectedFrom: string;
  /** The source ran the guest on virtio devices, so it has virtio drivers (OpenStack/KVM). */
  virtioHardware?: boolean;
}

/** Everything the vm function needs to build the KubeVirt VirtualMachine. */
export interface SourceVm {
  /** Name as the source knows it (VMware VM name, OpenStack server name, OVF VirtualSystem id). */
  name: string;
  cpu: { sockets: number; cores: number; threads: number };
  memoryMiB: number;
  firmware: { type: 'bios' | 'efi'; secureBoot: boolean; tpm: boolean };
  disks: SourceDisk[];
  nics: SourceNic[];
  /** The guest operating system, when the source reports one. */
  guestOs?: GuestOs;
  /** Extra annotations for the VM (e.g. the OpenStack server description). */
  annotations?: Record<string, string>;
}

export type DiskExportPhase = 'pending' | 'exporting' | 'converting' | 'verifying' | 'done' | 'failed';

export interface DiskProgress {
  index: number;
  phase: DiskExportPhase;
  bytesDone: number;
  bytesTotal: number;
}

/** A disk written to the scratch volume as a sparse raw image. */
export interface ExportedDisk {
  index: number;
  /** Absolute path of the raw image on the scratch volume. */
  path: string;
  sizeBytes: number;
  /** Bytes actually written (non-zero data). */
  allocatedBytes: number;
  bus?: DiskBus;
}

export interface ExportOptions {
  /** Directory on the scratch volume for this import's disks. */
  scratchDir: string;
  /** Called often during export; implementations of status reporting throttle it. */
  onProgress?: (progress: DiskProgress) => void;
  /** Aborts the export: clients stop downloads, abort leases, remove partial files. */
  signal?: AbortSignal;
  /** Max disks of one VM exported at the same time. */
  concurrency?: number;
  /** A disk download that delivers no byte for this long fails (default DOWNLOAD_STALL_TIMEOUT_MS). */
  stallTimeoutMs?: number;
}
