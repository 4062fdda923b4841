// The OVF's disks: References/File, DiskSection/Disk and the disk-drive items of the hardware
// section, joined into the disk → file mapping the exporter reads the archive by. Pure.
import { SourceError } from '../source-error.ts';
import type { DiskBus } from '../types.ts';
import { MAX_DISK_BYTES } from '../../limits.ts';
import { ResourceType, busForController, isStorageController } from './hardware-mapping.ts';
import type { HardwareItem } from './ovf-hardware.ts';
import { invalidOvf, OVF_NS } from './ovf-namespaces.ts';
import { toBytes } from './units.ts';
import { attr, type XmlElement } from './xml-tree.ts';

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

export function parseFile(f: XmlElement): OvfFile {
  const id = attr(f, 'id', OVF_NS);
  const href = attr(f, 'href', OVF_NS);
  if (id === undefined || href === undefined) throw invalidOvf('a References/File lacks ovf:id or ovf:href');
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
      throw invalidOvf(
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

export /** Disk members are matched by file name: two disks on one file would both claim one decode. */
function checkOneDiskPerFile(disks: readonly OvfDisk[]): void {
  const byName = new Map<string, OvfDisk>();
  for (const disk of disks) {
    if (!disk.file) continue;
    const name = disk.file.href.split('/').pop() ?? disk.file.href;
    const other = byName.get(name);
    if (other) {
      throw invalidOvf(
        `disks "${other.diskId}" and "${disk.diskId}" both use file "${name}"; each disk needs its own file`,
      );
    }
    byName.set(name, disk);
  }
}

export function parseDisks(
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
    if (!ref)
      throw invalidOvf(`${label} has HostResource "${host}", expected ovf:/disk/<id> or ovf:/file/<id>`);
    let diskId = ref[2] as string;
    let file: OvfFile | undefined;
    let capacityBytes: number | undefined;
    let populatedBytes: number | undefined;
    let format: string | undefined;
    if (ref[1] === 'file') {
      file = files.get(diskId);
      if (file === undefined)
        throw invalidOvf(`${label} references file "${diskId}", which References does not list`);
      capacityBytes = file.sizeBytes;
    } else {
      const def = diskDefs.get(diskId);
      if (def === undefined)
        throw invalidOvf(`${label} references disk "${diskId}", which DiskSection does not list`);
      const fileRef = attr(def, 'fileRef', OVF_NS);
      if (fileRef !== undefined) {
        file = files.get(fileRef);
        if (file === undefined)
          throw invalidOvf(`disk "${diskId}" references file "${fileRef}", which References does not list`);
      }
      const capacity = attr(def, 'capacity', OVF_NS) ?? '';
      const units = attr(def, 'capacityAllocationUnits', OVF_NS);
      capacityBytes = toBytes(capacity, units, 1);
      if (capacityBytes === undefined || !Number.isInteger(capacityBytes)) {
        throw invalidOvf(
          `disk "${diskId}" has capacity "${capacity}" with units "${units ?? 'byte'}" that is not understood (a whole decimal number, of bytes or of units such as "byte * 2^20", is expected)`,
        );
      }
      const populated = attr(def, 'populatedSize', OVF_NS);
      if (populated !== undefined && /^\d+$/.test(populated)) populatedBytes = Number(populated);
      format = attr(def, 'format', OVF_NS)?.trim().toLowerCase();
    }
    if (capacityBytes === undefined) throw invalidOvf(`${label} has no known capacity`);
    if (capacityBytes > MAX_DISK_BYTES) {
      throw invalidOvf(
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
