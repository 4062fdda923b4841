// The VirtualHardwareSection of an OVF VirtualSystem → the VM's CPU, memory, firmware and NICs
// (the disks are ovf-disks.ts's). Pure.
import type { SourceNic, SourceVm } from '../types.ts';
import { ResourceType, nicModelForSubType } from './hardware-mapping.ts';
import { invalidOvf, ATTR_NS, OVF_NS, VMW_NS } from './ovf-namespaces.ts';
import { toBytes } from './units.ts';
import { attr, childText, childrenNamed, descendantsNamed, firstChild, type XmlElement } from './xml-tree.ts';

export interface HardwareItem {
  kind: 'Item' | 'StorageItem' | 'EthernetPortItem';
  element: XmlElement;
  resourceType: number;
  instanceId?: string;
  subType?: string;
  prop(local: string): string | undefined;
  props(local: string): string[];
}

export function chooseHardwareSection(system: XmlElement, warnings: string[]): XmlElement {
  const sections = childrenNamed(system, 'VirtualHardwareSection', OVF_NS);
  const first = sections[0];
  if (first === undefined) throw invalidOvf('the VirtualSystem has no VirtualHardwareSection');
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

export function hardwareItems(hardware: XmlElement): HardwareItem[] {
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

export function parseCpu(items: HardwareItem[], warnings: string[]): SourceVm['cpu'] {
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

export function parseMemory(items: HardwareItem[]): number {
  const item = items.find((i) => i.resourceType === ResourceType.memory);
  // vSphere's OVF deployment has no documented default, and any guess gives a VM that boots
  // short of memory or wastes it: the user states it, as for any hand-written descriptor.
  if (item === undefined)
    throw invalidOvf(
      "the VM's VirtualHardwareSection has no memory item (ResourceType 4), so its memory size is unknown; add one (e.g. VirtualQuantity 2048 with AllocationUnits byte * 2^20) and repack the OVA",
    );
  const quantity = item.prop('VirtualQuantity') ?? '';
  const units = item.prop('AllocationUnits');
  // Without AllocationUnits, CIM's default for memory is MB (upstream treated it as bytes).
  const bytes = toBytes(quantity, units, 2 ** 20);
  if (bytes === undefined || bytes === 0 || !Number.isSafeInteger(bytes)) {
    throw invalidOvf(
      `memory VirtualQuantity "${quantity}" with AllocationUnits "${units ?? ''}" is not understood`,
    );
  }
  return Math.ceil(bytes / 2 ** 20);
}

export function parseFirmware(
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

export function parseNics(items: HardwareItem[], warnings: string[]): SourceNic[] {
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
