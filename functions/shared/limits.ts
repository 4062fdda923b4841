// Caps on everything a source (or a user) controls: sizes, counts and waits. Each read of a
// source-controlled length or count is checked against one of these before memory is reserved,
// a file is sized or a loop runs. They are listed in README "Security"; change them there too.
const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;

// ---- disks ---------------------------------------------------------------------------------------

/**
 * Largest virtual disk a source may declare (VMDK header, OVF capacity, qemu-img virtual size,
 * Glance size). vSphere's own maximum is 62 TiB; anything above is a lie or a mistake.
 */
export const MAX_DISK_BYTES = 64 * TiB;

/** Disks of one VM (OVF disk drives, OpenStack volumes). KubeVirt VMs rarely have more than a few. */
export const MAX_DISKS_PER_VM = 64;

/** NICs of one VM (OVF ethernet items). */
export const MAX_NICS_PER_VM = 64;

/**
 * A disk's size as the OVF states it and as its VMDK header states it may differ by at most this
 * (rounding of capacity units); more is refused as DiskSizeMismatch.
 */
export const MAX_DISK_SIZE_DISAGREEMENT_BYTES = 1 * MiB;

// ---- streamOptimized VMDK ------------------------------------------------------------------------

/** Grain table entries per table: VMware and qemu write 512; the spec allows no other value in practice. */
export const MAX_VMDK_GTES_PER_GT = 4096;

/** Bytes of the grain directory read from the metadata area (one 4-byte entry per grain table). */
export const MAX_VMDK_GRAIN_DIRECTORY_BYTES = 8 * MiB;

/** Sectors of a footer marker's payload: exactly one sector (the copy of the header). */
export const VMDK_FOOTER_SECTORS = 1;

/** Embedded descriptor (text) of a sparse extent. */
export const MAX_VMDK_DESCRIPTOR_BYTES = 1 * MiB;

// ---- OVA / OVF -----------------------------------------------------------------------------------

/**
 * OVF descriptor text. vSphere and ovftool write tens of KiB; parsing 1 MiB of XML takes under
 * 100 ms and tens of MiB of memory, which the export function's 256 Mi pod can afford.
 */
export const MAX_OVF_BYTES = 1 * MiB;

/** XML elements in one OVF descriptor (checked before the tree is built). */
export const MAX_OVF_ELEMENTS = 20_000;

/** Nesting depth of OVF XML elements. */
export const MAX_OVF_DEPTH = 64;

/** Manifest (.mf) text. */
export const MAX_MANIFEST_BYTES = 1 * MiB;

/** Tar members in one OVA (descriptor, manifest, certificate, disks, anything else). */
export const MAX_OVA_MEMBERS = 1_000;

/**
 * `.vmdk` members decoded before the OVF says which ones are disks (OVF stored after its disks).
 * Members past this many, when the OVF is still unknown, are refused as InvalidOva.
 * @alias a limit of its own that happens to equal MAX_DISKS_PER_VM (for knip's duplicate check)
 */
export const MAX_OVA_PROVISIONAL_DISKS = MAX_DISKS_PER_VM;

/**
 * A disk image file (VMDK, qcow2, raw) holds its disk's data plus its own metadata: grain or L2
 * tables and markers cost under 1 % (a streamOptimized grain marker and padding: under 1 KiB per
 * 64 KiB grain). An OVA disk file that inflates (ovf:compression="gzip"), or is staged to scratch
 * for qemu-img, to more than capacity × (1 + this fraction) + MAX_DISK_IMAGE_OVERHEAD_BYTES is
 * refused: this bounds gzip inflation (a zip bomb) and the scratch space a staged image takes.
 */
export const MAX_DISK_IMAGE_OVERHEAD_FRACTION = 1 / 32;
export const MAX_DISK_IMAGE_OVERHEAD_BYTES = 64 * MiB;

// ---- network -------------------------------------------------------------------------------------

/** One JSON answer of an OpenStack API (a server list of a big project is a few MiB). */
export const MAX_OPENSTACK_JSON_BYTES = 16 * MiB;

/** One SOAP answer of vCenter (property collector pages, task info). */
export const MAX_SOAP_RESPONSE_BYTES = 32 * MiB;

/**
 * A download (OVA, Glance image, NFC disk) that delivers no byte for this long is torn down as a
 * Timeout: the connection is closed and partial files removed.
 */
export const DOWNLOAD_STALL_TIMEOUT_MS = 120_000;

// ---- disk server ---------------------------------------------------------------------------------

/** A client must send its request headers within this time. */
export const DISK_SERVER_HEADERS_TIMEOUT_MS = 30_000;

/** A connection with no bytes moving either way for this long is closed (slow or stuck readers). */
export const DISK_SERVER_IDLE_TIMEOUT_MS = 120_000;

/** Request URLs longer than this are answered 414. */
export const DISK_SERVER_MAX_URL_LENGTH = 1024;
