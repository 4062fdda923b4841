// The OVA source: an OVA (tar) file fetched over HTTP(S), exported in one streaming pass; the VM
// description comes from the OVF inside the archive.
import type { OvaSourceSpec } from '../../api/index.ts';
import type { SourceAdapter, SourceTarget } from '../adapter.ts';
import { specOf } from '../source-target.ts';
import { readOvaDescriptor } from './describe.ts';
import { exportOva } from './export.ts';
import { nothingToPowerOn, recordNothingToPowerOff } from './power.ts';
import { scratchSizeForOva } from './scratch-size.ts';
import { ovaSettings } from './settings.ts';
import { verifyOvaSource } from './verify.ts';
import type { ParseOvfOptions } from './ovf-descriptor.ts';

/** The import's virtualMachineName picks the VM of a vApp OVA. */
function selection(t: SourceTarget): ParseOvfOptions {
  const name = t.imp.spec.virtualMachineName;
  return name ? { virtualMachineName: name } : {};
}

export const adapter: SourceAdapter = {
  label: 'OVA',
  hasPower: false,
  settings: ovaSettings,

  async verify(t) {
    await verifyOvaSource(specOf<OvaSourceSpec>(t), t.credentials?.data);
  },

  // Nothing to check before the export reads the archive: verify already fetched it.
  async preflight() {
    return { warnings: [] };
  },

  async resolveVmName(t) {
    return t.imp.spec.virtualMachineName ?? '';
  },

  // The OVF is inside the archive: the export reads it (SourceExport.vm).
  async describe() {
    return undefined;
  },

  async scratchSize(t, sizing) {
    const spec = specOf<OvaSourceSpec>(t);
    const probe = await verifyOvaSource(spec, t.credentials?.data);
    if (probe.sizeBytes !== undefined && probe.sizeBytes > 0)
      return scratchSizeForOva(probe.sizeBytes, undefined, sizing);
    const ovf = await readOvaDescriptor(spec, t.credentials?.data, undefined, selection(t));
    const disks = ovf.disks.map((d) => ({
      sizeBytes: d.capacityBytes,
      ...(d.populatedBytes !== undefined ? { allocatedBytes: d.populatedBytes } : {}),
    }));
    return scratchSizeForOva(undefined, disks, sizing);
  },

  powerOff: (_t, deps) => recordNothingToPowerOff(deps),

  powerOn: async () => nothingToPowerOn,

  async export(t, opts) {
    const result = await exportOva(specOf<OvaSourceSpec>(t), t.credentials?.data, opts, selection(t));
    return { disks: result.disks, vm: result.vm, warnings: result.warnings };
  },

  // HTTP connections close with each download.
  close: async () => undefined,
};
