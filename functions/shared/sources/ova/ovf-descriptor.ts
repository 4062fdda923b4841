// OVF 0.9 / 1.x / 2.x descriptor → SourceVm plus the disk → file mapping the exporter needs.
// Pure: takes the descriptor text, returns data or throws SourceError('InvalidOvf'|'UnsupportedOva'|
// 'VirtualMachineNotFound').
import { guestOsFromOvf } from '../../guest-os.ts';
import { SourceError } from '../source-error.ts';
import type { SourceDisk, SourceVm } from '../types.ts';
import { checkOneDiskPerFile, parseDisks, parseFile, type OvfDisk, type OvfFile } from './ovf-disks.ts';
import {
  chooseHardwareSection,
  hardwareItems,
  parseCpu,
  parseFirmware,
  parseMemory,
  parseNics,
} from './ovf-hardware.ts';
import { invalidOvf, OVF2_NS, OVF_NS, VMW_NS } from './ovf-namespaces.ts';
import { normalizeOvf09, OVF09_NS } from './ovf09.ts';
import {
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

export interface OvfDescriptor {
  ovfVersion: 0.9 | 1 | 2;
  vm: SourceVm;
  disks: OvfDisk[];
  warnings: string[];
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
    throw invalidOvf(`it is ${bytes} bytes, larger than the ${MAX_OVF_BYTES} bytes accepted`);
  }
  let root: XmlElement;
  try {
    root = parseXmlTree(xml, { maxElements: MAX_OVF_ELEMENTS, maxDepth: MAX_OVF_DEPTH });
  } catch (e) {
    throw invalidOvf((e as Error).message);
  }
  if (root.local !== 'Envelope' || !OVF_NS.includes(root.ns)) {
    throw invalidOvf(
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
      if (id === undefined) throw invalidOvf('a DiskSection/Disk lacks ovf:diskId');
      diskDefs.set(id, d);
    }
  }

  const system = selectVirtualSystem(root, opts.virtualMachineName, warnings);
  const name = attr(system, 'id', OVF_NS) ?? childText(system, 'Name');
  if (name === undefined || name === '') throw invalidOvf('the VirtualSystem has no ovf:id');

  const hardware = chooseHardwareSection(system, warnings);
  const items = hardwareItems(hardware);

  const cpu = parseCpu(items, warnings);
  const memoryMiB = parseMemory(items);
  const firmware = parseFirmware(hardware, items, warnings);
  const nics = parseNics(items, warnings);
  const disks = parseDisks(items, diskDefs, files, warnings);
  if (disks.length > MAX_DISKS_PER_VM)
    throw invalidOvf(`it describes ${disks.length} disks; at most ${MAX_DISKS_PER_VM} are supported`);
  if (nics.length > MAX_NICS_PER_VM)
    throw invalidOvf(
      `it describes ${nics.length} network adapters; at most ${MAX_NICS_PER_VM} are supported`,
    );
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

/**
 * The VirtualSystem to import: the envelope's only one, or the one of a vApp (a
 * VirtualSystemCollection, possibly nested) whose ovf:id or Name is `wanted`.
 */
function selectVirtualSystem(root: XmlElement, wanted: string | undefined, warnings: string[]): XmlElement {
  const single = firstChild(root, 'VirtualSystem', OVF_NS);
  if (single !== undefined) return single;
  const collection = firstChild(root, 'VirtualSystemCollection', OVF_NS);
  if (collection === undefined) throw invalidOvf('no <VirtualSystem> element');
  const systems = descendantsNamed(collection, 'VirtualSystem').filter((s) => OVF_NS.includes(s.ns));
  const label = (s: XmlElement): string => {
    const id = attr(s, 'id', OVF_NS) ?? '';
    const name = childText(s, 'Name');
    return name !== undefined && name !== '' && name !== id ? `"${id}" (Name "${name}")` : `"${id}"`;
  };
  if (systems.length === 0) throw invalidOvf('the vApp (VirtualSystemCollection) holds no VirtualSystem');
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
