// What operating system a source VM runs, from what each source reports: vSphere's guestId
// (config.guestId, e.g. "windows2019srv_64Guest") and guestFullName, Glance image properties
// (os_type "windows"/"linux", os_distro), and the OVF OperatingSystemSection (ovf:id, a
// CIM_OperatingSystem OsType number, and VMware's vmw:osType, which holds a vSphere guestId).
// Pure: strings in, a GuestOs out. Everything a source sends is untrusted: bounded, never parsed
// beyond simple comparisons.
import type { GuestFamily, GuestOs } from './sources/types.ts';

const MAX_TEXT = 256;
const clean = (s: unknown): string | undefined => {
  if (typeof s !== 'string') return undefined;
  const t = s.replace(/[\u0000-\u001f\u007f]/g, '').trim();
  return t ? t.slice(0, MAX_TEXT) : undefined;
};

// vSphere VirtualMachineGuestOsIdentifier values (vim25 enum): Windows ids start with "win"
// (windows9_64Guest, windows2019srv_64Guest, winNetStandardGuest, winXPProGuest, win2000ServGuest);
// Linux ids name the distribution or say "linux" (rhel8_64Guest, ubuntu64Guest, otherLinux64Guest,
// sles15_64Guest, centos8_64Guest, debian11_64Guest, oracleLinux8_64Guest, photonGuest, …).
const VSPHERE_LINUX =
  /linux|rhel|centos|ubuntu|debian|sles|suse|fedora|oracle|asianux|mandr|turbo|photon|coreos|rocky|alma|amazon|miracle|kylin|fusionos|prolinux|pardus|vmwarePhoton/i;
const VSPHERE_OTHER = /freebsd|solaris|darwin|netware|os2|dos|eComStation|openServer|unixWare|sjds|other/i;

/** Family of a vSphere guestId (also what OVF's vmw:osType holds). */
export function familyOfVsphereGuestId(guestId: string | undefined): GuestFamily {
  const id = clean(guestId);
  if (!id) return 'unknown';
  if (/^win/i.test(id)) return 'windows';
  if (VSPHERE_LINUX.test(id)) return 'linux';
  // otherGuest / otherGuest64 say nothing about the OS.
  if (/^other(Guest|Guest64)?$/i.test(id)) return 'unknown';
  if (VSPHERE_OTHER.test(id)) return 'other';
  return 'unknown';
}

// CIM_OperatingSystem.OsType values (DMTF CIM schema) as OVF's OperatingSystemSection ovf:id uses.
const CIM_WINDOWS = new Set([
  14, 15, 16, 17, 18, 19, 58, 63, 67, 69, 70, 71, 72, 73, 74, 75, 76, 77, 103, 105, 111, 112, 113, 114, 115,
  116, 117, 118, 119, 120, 121, 122, 123, 124,
]);
const CIM_LINUX = new Set([
  36, 79, 80, 82, 83, 84, 85, 87, 89, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100, 101, 106, 107, 108, 109,
]);
// 0 Unknown, 1 Other, 66 Not Applicable, 102 Other 64-Bit say nothing.
const CIM_UNKNOWN = new Set([0, 1, 66, 102]);

export function familyOfCimOsType(id: number | undefined): GuestFamily {
  if (id === undefined || !Number.isInteger(id)) return 'unknown';
  if (CIM_WINDOWS.has(id)) return 'windows';
  if (CIM_LINUX.has(id)) return 'linux';
  if (CIM_UNKNOWN.has(id)) return 'unknown';
  return 'other';
}

// Glance's os_distro values (Glance "useful image properties"): Linux distributions, BSDs, Windows.
const GLANCE_LINUX_DISTROS = new Set([
  'arch',
  'centos',
  'debian',
  'fedora',
  'gentoo',
  'mandrake',
  'mandriva',
  'mes',
  'opensuse',
  'rhel',
  'sled',
  'sles',
  'ubuntu',
  'alpine',
  'rocky',
  'almalinux',
  'oraclelinux',
  'cirros',
  'coreos',
  'fcos',
]);
const GLANCE_OTHER_DISTROS = new Set(['freebsd', 'netbsd', 'openbsd', 'opensolaris', 'netware', 'msdos']);

export function familyOfGlance(osType: string | undefined, osDistro: string | undefined): GuestFamily {
  const type = clean(osType)?.toLowerCase();
  if (type === 'windows') return 'windows';
  if (type === 'linux') return 'linux';
  const distro = clean(osDistro)?.toLowerCase();
  if (!distro) return 'unknown';
  if (distro === 'windows') return 'windows';
  if (GLANCE_LINUX_DISTROS.has(distro)) return 'linux';
  if (GLANCE_OTHER_DISTROS.has(distro)) return 'other';
  return 'unknown';
}

/** vSphere: config.guestId and config.guestFullName. */
export function guestOsFromVsphere(guestId: unknown, guestFullName: unknown): GuestOs {
  const id = clean(guestId);
  const name = clean(guestFullName);
  return {
    family: familyOfVsphereGuestId(id),
    ...(id ? { id } : {}),
    ...(name ? { name } : {}),
    detectedFrom: 'vSphere config.guestId',
  };
}

/**
 * Glance image properties of the boot image (or the boot volume's volume_image_metadata).
 * `virtioHardware`: the server ran on KVM with virtio disks (Nova's default, unless hw_disk_bus
 * names another bus), so the guest necessarily has the virtio drivers it booted with.
 */
export function guestOsFromGlance(props: Record<string, unknown> | undefined): GuestOs {
  const osType = clean(props?.os_type);
  const distro = clean(props?.os_distro);
  const version = clean(props?.os_version);
  const diskBus = clean(props?.hw_disk_bus)?.toLowerCase();
  const scsiModel = clean(props?.hw_scsi_model)?.toLowerCase();
  const virtioHardware =
    diskBus === undefined || diskBus === 'virtio' || (diskBus === 'scsi' && scsiModel === 'virtio-scsi');
  const name = [distro, version].filter(Boolean).join(' ') || osType;
  return {
    family: familyOfGlance(osType, distro),
    ...(distro || osType ? { id: distro ?? osType } : {}),
    ...(name ? { name } : {}),
    detectedFrom: 'Glance image properties os_type/os_distro',
    virtioHardware,
  };
}

/** OVF OperatingSystemSection: vmw:osType (a vSphere guestId) wins over the CIM ovf:id number. */
export function guestOsFromOvf(
  cimId: string | undefined,
  vmwOsType: string | undefined,
  description: string | undefined,
): GuestOs {
  const osType = clean(vmwOsType);
  const numeric = clean(cimId);
  const cim = numeric && /^\d{1,4}$/.test(numeric) ? Number(numeric) : undefined;
  const byOsType = familyOfVsphereGuestId(osType);
  const family = byOsType !== 'unknown' ? byOsType : familyOfCimOsType(cim);
  const name = clean(description);
  const id = osType ?? (cim !== undefined ? `cim:${cim}` : undefined);
  return {
    family,
    ...(id ? { id } : {}),
    ...(name ? { name } : {}),
    detectedFrom: 'OVF OperatingSystemSection',
  };
}
