// OVF 0.9 / 1.x / 2.x descriptor → SourceVm plus the disk → file mapping the exporter needs.
// Pure: takes the descriptor text, returns data or throws SourceError('InvalidOvf'|'UnsupportedOva'|
// 'VirtualMachineNotFound').
import { guestOsFromOvf } from '../../guest-os.ts';
import { SourceError } from '../source-error.ts';
import type { DiskBus, SourceDisk, SourceNic, SourceVm } from '../types.ts';
import {
  ResourceType,
  busForController,
  isStorageController,
  nicModelForSubType,
} from './hardware-mapping.ts';
import { normalizeOvf09, OVF09_NS } from './ovf09.ts';
import { toBytes } from './units.ts';
import {
  MAX_DISK_BYTES,
  MAX_DISKS_PER_VM,
  MAX_NICS_PER_VM,
  MAX_OVF_BYTES,
  MAX_OVF_DEPTH,
  MAX_OVF_ELEMENTS,
} from '../../limits.ts';
import {
  attr,
  childText,
  childrenNamed,
  descendantsNamed,
  firstChild,
  parseXmlTree,
  type XmlElement,
} from './xml-tree.ts';

export const OVF1_NS = 'http://schemas.dmtf.org/ovf/envelope/1';
export const OVF2_NS = 'http://schemas.dmtf.org/ovf/envelope/2';
export const VMW_NS = 'http://www.vmware.com/schema/ovf';
const OVF_NS = [OVF1_NS, OVF2_NS, OVF09_NS];
const ATTR_NS = [...OVF_NS, VMW_NS];

export interface OvfFile {
  id: string;
  href: string;
  /** File@size, bytes, when given: the file as stored (compressed; all chunks together). */
  sizeBytes?: number;
  /** File@compression="gzip": the stored bytes are the gzip of the file. */
  compression?: 'gzip';
  /**
   * File@chunkSize: the stored file is split into members `<href>.000000000`, `.000000001`, …
   * of this many bytes each (the last one shorter), after compression (DSP0243 §5.3).
   */
  chunkSizeBytes?: number;
}

export interface OvfDisk {
  /** Position among the VM's disk drives in descriptor order (= SourceDisk.index). */
  index: number;
  diskId: string;
  /** The archive member holding the disk's content; undefined = blank disk (no file). */
  file?: OvfFile;
  capacityBytes: number;
  populatedBytes?: number;
  /** DiskSection/Disk@format, lower-cased. */
  format?: string;
  bus?: DiskBus;
  label: string;
}

export interface OvfDescriptor {
  ovfVersion: 0.9 | 1 | 2;
  vm: SourceVm;
  disks: OvfDisk[];
  warnings: string[];
}

interface HardwareItem {
  kind: 'Item' | 'StorageItem' | 'EthernetPortItem';
  element: XmlElement;
  resourceType: number;
  instanceId?: string;
  subType?: string;
  prop(local: string): string | undefined;
  props(local: string): string[];
}

function invalid(message: string): SourceError {
  return new SourceError('InvalidOvf', `OVF descriptor: ${message}`);
}

export interface ParseOvfOptions {
  /**
   * The import's virtualMachineName: selects the VM of a vApp (VirtualSystemCollection) by its
   * ovf:id or Name. A single-VM OVF ignores it (there it names the new VM).
   */
  virtualMachineName?: string;
}

export function parseOvfDescriptor(xml: string, opts: ParseOvfOptions = {}): OvfDescriptor {
  const bytes = Buffer.byteLength(xml);
  if (bytes > MAX_OVF_BYTES) {
    throw invalid(`it is ${bytes} bytes, larger than the ${MAX_OVF_BYTES} bytes accepted`);
  }
  let root: XmlElement;
  try {
    root = parseXmlTree(xml, { maxElements: MAX_OVF_ELEMENTS, maxDepth: MAX_OVF_DEPTH });
  } catch (e) {
    throw invalid((e as Error).message);
  }
  if (root.local !== 'Envelope' || !OVF_NS.includes(root.ns)) {
    throw invalid(
      `root element is <${root.local}> in namespace "${root.ns}", expected an OVF 0.9, 1.x or 2.x <Envelope>`,
    );
  }
  const ovfVersion = root.ns === OVF2_NS ? 2 : root.ns === OVF09_NS ? 0.9 : 1;
  root = normalizeOvf09(root, root.ns);
  const warnings: string[] = [];

  const files = new Map<string, OvfFile>();
  for (const f of childrenNamed(firstChild(root, 'References') ?? root, 'File')) {
    const file = parseFile(f);
    files.set(file.id, file);
  }

  const diskDefs = new Map<string, XmlElement>();
  for (const section of childrenNamed(root, 'DiskSection')) {
    for (const d of childrenNamed(section, 'Disk')) {
      const id = attr(d, 'diskId', OVF_NS);
      if (id === undefined) throw invalid('a DiskSection/Disk lacks ovf:diskId');
      diskDefs.set(id, d);
    }
  }

  const system = selectVirtualSystem(root, opts.virtualMachineName, warnings);
  const name = attr(system, 'id', OVF_NS) ?? childText(system, 'Name');
  if (name === undefined || name === '') throw invalid('the VirtualSystem has no ovf:id');

  const hardware = chooseHardwareSection(system, warnings);
  const items = hardwareItems(hardware);

  const cpu = parseCpu(items, warnings);
  const memoryMiB = parseMemory(items);
  const firmware = parseFirmware(hardware, items, warnings);
  const nics = parseNics(items, warnings);
  const disks = parseDisks(items, diskDefs, files, warnings);
  if (disks.length > MAX_DISKS_PER_VM)
    throw invalid(`it describes ${disks.length} disks; at most ${MAX_DISKS_PER_VM} are supported`);
  if (nics.length > MAX_NICS_PER_VM)
    throw invalid(`it describes ${nics.length} network adapters; at most ${MAX_NICS_PER_VM} are supported`);
  checkOneDiskPerFile(disks);

  const vm: SourceVm = {
    name,
    cpu,
    memoryMiB,
    firmware,
    disks: disks.map((d): SourceDisk => ({
      index: d.index,
      sizeBytes: d.capacityBytes,
      label: d.label,
      ...(d.bus !== undefined ? { bus: d.bus } : {}),
      ...(d.populatedBytes !== undefined ? { allocatedBytes: d.populatedBytes } : {}),
    })),
    nics,
    guestOs: parseOperatingSystem(system),
  };
  return { ovfVersion, vm, disks, warnings };
}

function parseFile(f: XmlElement): OvfFile {
  const id = attr(f, 'id', OVF_NS);
  const href = attr(f, 'href', OVF_NS);
  if (id === undefined || href === undefined) throw invalid('a References/File lacks ovf:id or ovf:href');
  const compression = attr(f, 'compression', OVF_NS)?.trim().toLowerCase();
  if (compression !== undefined && compression !== 'identity' && compression !== 'gzip') {
    throw new SourceError(
      'UnsupportedOva',
      `file "${href}" uses ovf:compression="${compression}"; supported are "gzip" and "identity" (uncompressed)`,
    );
  }
  const chunk = attr(f, 'chunkSize', OVF_NS);
  let chunkSizeBytes: number | undefined;
  if (chunk !== undefined) {
    chunkSizeBytes = /^\d{1,16}$/.test(chunk.trim()) ? Number(chunk.trim()) : NaN;
    if (!(chunkSizeBytes > 0 && chunkSizeBytes <= MAX_DISK_BYTES)) {
      throw invalid(
        `file "${href}" has ovf:chunkSize "${chunk}", expected a whole number of bytes from 1 to ${MAX_DISK_BYTES}`,
      );
    }
  }
  const size = attr(f, 'size', OVF_NS);
  return {
    id,
    href,
    ...(size !== undefined && /^\d+$/.test(size) ? { sizeBytes: Number(size) } : {}),
    ...(compression === 'gzip' ? { compression } : {}),
    ...(chunkSizeBytes !== undefined ? { chunkSizeBytes } : {}),
  };
}

/**
 * The VirtualSystem to import: the envelope's only one, or the one of a vApp (a
 * VirtualSystemCollection, possibly nested) whose ovf:id or Name is `wanted`.
 */
function selectVirtualSystem(root: XmlElement, wanted: string | undefined, warnings: string[]): XmlElement {
  const single = firstChild(root, 'VirtualSystem', OVF_NS);
  if (single !== undefined) return single;
  const collection = firstChild(root, 'VirtualSystemCollection', OVF_NS);
  if (collection === undefined) throw invalid('no <VirtualSystem> element');
  const systems = descendantsNamed(collection, 'VirtualSystem').filter((s) => OVF_NS.includes(s.ns));
  const label = (s: XmlElement): string => {
    const id = attr(s, 'id', OVF_NS) ?? '';
    const name = childText(s, 'Name');
    return name !== undefined && name !== '' && name !== id ? `"${id}" (Name "${name}")` : `"${id}"`;
  };
  if (systems.length === 0) throw invalid('the vApp (VirtualSystemCollection) holds no VirtualSystem');
  const listed = systems.map(label).join(', ');
  const what = `the OVA holds a vApp (VirtualSystemCollection) of ${systems.length} VMs: ${listed}`;
  const key = wanted?.trim() ?? '';
  if (key === '') {
    throw new SourceError(
      'VirtualMachineNotFound',
      `${what}; set the import's virtualMachineName to the ovf:id or Name of the VM to import (one import per VM)`,
    );
  }
  const byId = systems.filter((s) => attr(s, 'id', OVF_NS) === key);
  const matches = byId.length > 0 ? byId : systems.filter((s) => childText(s, 'Name') === key);
  if (matches.length !== 1) {
    throw new SourceError(
      'VirtualMachineNotFound',
      `${what}; virtualMachineName "${key}" names ${matches.length === 0 ? 'none' : `${matches.length}`} of them: set it to one ovf:id`,
    );
  }
  warnings.push(`the OVA holds a vApp of ${systems.length} VMs; importing ${label(matches[0]!)}`);
  return matches[0]!;
}

function parseOperatingSystem(system: XmlElement): SourceVm['guestOs'] {
  const section = firstChild(system, 'OperatingSystemSection', OVF_NS);
  return guestOsFromOvf(
    section && attr(section, 'id', OVF_NS),
    section && attr(section, 'osType', [VMW_NS]),
    section && childText(section, 'Description'),
  );
}

/** Disk members are matched by file name: two disks on one file would both claim one decode. */
function checkOneDiskPerFile(disks: readonly OvfDisk[]): void {
  const byName = new Map<string, OvfDisk>();
  for (const disk of disks) {
    if (!disk.file) continue;
    const name = disk.file.href.split('/').pop() ?? disk.file.href;
    const other = byName.get(name);
    if (other) {
      throw invalid(
        `disks "${other.diskId}" and "${disk.diskId}" both use file "${name}"; each disk needs its own file`,
      );
    }
    byName.set(name, disk);
  }
}

function chooseHardwareSection(system: XmlElement, warnings: string[]): XmlElement {
  const sections = childrenNamed(system, 'VirtualHardwareSection', OVF_NS);
  const first = sections[0];
  if (first === undefined) throw invalid('the VirtualSystem has no VirtualHardwareSection');
  if (sections.length === 1) return first;
  // Several sections describe alternatives for different platforms; prefer VMware's.
  const vmware = sections.find((s) => {
    const system = firstChild(s, 'System');
    return /vmx-/i.test((system && childText(system, 'VirtualSystemType')) ?? '');
  });
  const chosen = vmware ?? first;
  warnings.push(
    `the OVF has ${sections.length} VirtualHardwareSections; using the ${vmware ? 'VMware (vmx-*)' : 'first'} one`,
  );
  return chosen;
}

function hardwareItems(hardware: XmlElement): HardwareItem[] {
  const out: HardwareItem[] = [];
  for (const el of hardware.children) {
    if (el.local !== 'Item' && el.local !== 'StorageItem' && el.local !== 'EthernetPortItem') continue;
    // Item properties live in the CIM RASD / EPASD / SASD namespaces, which share property names.
    const props = (local: string): string[] => childrenNamed(el, local).map((c) => c.text);
    const prop = (local: string): string | undefined => props(local)[0];
    const rt = Number(prop('ResourceType'));
    const instanceId = prop('InstanceID');
    const subType = prop('ResourceSubType');
    out.push({
      kind: el.local,
      element: el,
      resourceType: Number.isInteger(rt) ? rt : NaN,
      ...(instanceId !== undefined ? { instanceId } : {}),
      ...(subType !== undefined ? { subType } : {}),
      prop,
      props,
    });
  }
  return out;
}

function parseCpu(items: HardwareItem[], warnings: string[]): SourceVm['cpu'] {
  const item = items.find((i) => i.resourceType === ResourceType.processor);
  const total = Number(item?.prop('VirtualQuantity'));
  if (item === undefined || !Number.isInteger(total) || total < 1) {
    warnings.push('the OVF has no valid processor item; assuming 1 vCPU');
    return { sockets: 1, cores: 1, threads: 1 };
  }
  const cpsText = item.prop('CoresPerSocket');
  const cps = Number(cpsText);
  if (cpsText === undefined) return { sockets: total, cores: 1, threads: 1 };
  if (!Number.isInteger(cps) || cps < 1 || total % cps !== 0) {
    warnings.push(
      `CoresPerSocket ${cpsText} does not divide ${total} vCPUs; using ${total} sockets of 1 core`,
    );
    return { sockets: total, cores: 1, threads: 1 };
  }
  return { sockets: total / cps, cores: cps, threads: 1 };
}

function parseMemory(items: HardwareItem[]): number {
  const item = items.find((i) => i.resourceType === ResourceType.memory);
  // vSphere's OVF deployment has no documented default, and any guess gives a VM that boots
  // short of memory or wastes it: the user states it, as for any hand-written descriptor.
  if (item === undefined)
    throw invalid(
      "the VM's VirtualHardwareSection has no memory item (ResourceType 4), so its memory size is unknown; add one (e.g. VirtualQuantity 2048 with AllocationUnits byte * 2^20) and repack the OVA",
    );
  const quantity = item.prop('VirtualQuantity') ?? '';
  const units = item.prop('AllocationUnits');
  // Without AllocationUnits, CIM's default for memory is MB (upstream treated it as bytes).
  const bytes = toBytes(quantity, units, 2 ** 20);
  if (bytes === undefined || bytes === 0 || !Number.isSafeInteger(bytes)) {
    throw invalid(
      `memory VirtualQuantity "${quantity}" with AllocationUnits "${units ?? ''}" is not understood`,
    );
  }
  return Math.ceil(bytes / 2 ** 20);
}

function parseFirmware(
  hardware: XmlElement,
  items: HardwareItem[],
  warnings: string[],
): SourceVm['firmware'] {
  const config = new Map<string, string>();
  for (const el of [...descendantsNamed(hardware, 'Config'), ...descendantsNamed(hardware, 'ExtraConfig')]) {
    if (el.ns !== VMW_NS) continue;
    const key = attr(el, 'key', ATTR_NS);
    const value = attr(el, 'value', ATTR_NS);
    if (key !== undefined && value !== undefined && !config.has(key)) config.set(key, value);
  }
  const isTrue = (v: string | undefined): boolean => v !== undefined && /^(true|1|yes)$/i.test(v.trim());
  const type = config.get('firmware')?.trim().toLowerCase() === 'efi' ? 'efi' : 'bios';
  let secureBoot = isTrue(config.get('bootOptions.efiSecureBootEnabled'));
  if (secureBoot && type !== 'efi') {
    warnings.push('secure boot is enabled but the firmware is BIOS; ignoring secure boot');
    secureBoot = false;
  }
  const tpm =
    items.some((i) => i.subType?.trim().toLowerCase() === 'vmware.vtpm') ||
    isTrue(config.get('tpm.present')) ||
    isTrue(config.get('tpm20.enabled'));
  return { type, secureBoot, tpm };
}

function parseNics(items: HardwareItem[], warnings: string[]): SourceNic[] {
  const nics: SourceNic[] = [];
  for (const item of items) {
    if (item.resourceType !== ResourceType.ethernetAdapter) continue;
    const network = item.prop('Connection')?.trim() ?? '';
    const label = item.prop('ElementName') ?? `NIC ${nics.length + 1}`;
    if (network === '') warnings.push(`${label} has no network Connection; it maps to no source network`);
    const mac = item.prop('Address')?.trim();
    const model = nicModelForSubType(item.subType);
    if (item.subType !== undefined && model === undefined) {
      warnings.push(`${label} has unknown adapter type "${item.subType}"; the default NIC model applies`);
    }
    nics.push({
      network,
      ...(mac ? { mac: mac.toLowerCase() } : {}),
      ...(model !== undefined ? { model } : {}),
    });
  }
  return nics;
}

function parseDisks(
  items: HardwareItem[],
  diskDefs: Map<string, XmlElement>,
  files: Map<string, OvfFile>,
  warnings: string[],
): OvfDisk[] {
  const controllers = new Map<string, HardwareItem>();
  for (const item of items) {
    if (item.instanceId !== undefined && isStorageController(item.resourceType))
      controllers.set(item.instanceId, item);
  }
  const disks: OvfDisk[] = [];
  for (const item of items) {
    if (item.resourceType !== ResourceType.diskDrive) continue;
    const host = item.props('HostResource')[0]?.trim();
    const label = item.prop('ElementName') ?? `disk ${disks.length + 1}`;
    if (host === undefined || host === '') {
      warnings.push(`${label} has no HostResource (an empty drive); skipped`);
      continue;
    }
    // "ovf://disk/<id>" is how VirtualCenter 2.5 wrote it.
    const ref = /^(?:ovf:)?\/\/?(disk|file)\/(.+)$/.exec(host);
    if (!ref) throw invalid(`${label} has HostResource "${host}", expected ovf:/disk/<id> or ovf:/file/<id>`);
    let diskId = ref[2] as string;
    let file: OvfFile | undefined;
    let capacityBytes: number | undefined;
    let populatedBytes: number | undefined;
    let format: string | undefined;
    if (ref[1] === 'file') {
      file = files.get(diskId);
      if (file === undefined)
        throw invalid(`${label} references file "${diskId}", which References does not list`);
      capacityBytes = file.sizeBytes;
    } else {
      const def = diskDefs.get(diskId);
      if (def === undefined)
        throw invalid(`${label} references disk "${diskId}", which DiskSection does not list`);
      const fileRef = attr(def, 'fileRef', OVF_NS);
      if (fileRef !== undefined) {
        file = files.get(fileRef);
        if (file === undefined)
          throw invalid(`disk "${diskId}" references file "${fileRef}", which References does not list`);
      }
      const capacity = attr(def, 'capacity', OVF_NS) ?? '';
      const units = attr(def, 'capacityAllocationUnits', OVF_NS);
      capacityBytes = toBytes(capacity, units, 1);
      if (capacityBytes === undefined || !Number.isInteger(capacityBytes)) {
        throw invalid(
          `disk "${diskId}" has capacity "${capacity}" with units "${units ?? 'byte'}" that is not understood (a whole decimal number, of bytes or of units such as "byte * 2^20", is expected)`,
        );
      }
      const populated = attr(def, 'populatedSize', OVF_NS);
      if (populated !== undefined && /^\d+$/.test(populated)) populatedBytes = Number(populated);
      format = attr(def, 'format', OVF_NS)?.trim().toLowerCase();
    }
    if (capacityBytes === undefined) throw invalid(`${label} has no known capacity`);
    if (capacityBytes > MAX_DISK_BYTES) {
      throw invalid(
        `disk "${diskId}" has a capacity of ${Number.isSafeInteger(capacityBytes) ? capacityBytes : 'more than 2^53'} bytes, larger than the largest supported disk (${MAX_DISK_BYTES} bytes)`,
      );
    }
    diskId = diskId.trim();
    const parentId = item.prop('Parent');
    const controller = parentId === undefined ? undefined : controllers.get(parentId);
    if (parentId !== undefined && controller === undefined) {
      warnings.push(
        `${label} names controller "${parentId}", which the OVF does not describe; default bus applies`,
      );
    }
    const bus = controller ? busForController(controller.resourceType, controller.subType) : undefined;
    disks.push({
      index: disks.length,
      diskId,
      capacityBytes,
      label: file?.href ?? label,
      ...(file !== undefined ? { file } : {}),
      ...(populatedBytes !== undefined ? { populatedBytes } : {}),
      ...(format !== undefined ? { format } : {}),
      ...(bus !== undefined ? { bus } : {}),
    });
  }
  return disks;
}
