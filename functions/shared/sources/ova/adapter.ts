// The OVA source: an OVA (tar) file fetched over HTTP(S), exported in one streaming pass; the VM
// description comes from the OVF inside the archive.
import type { OvaSourceSpec } from '../../api/index.ts';
import type { SourceAdapter, SourceTarget } from '../adapter.ts';
import { specOf } from '../source-target.ts';
import { readLeadingOvaDescriptor, readOvaDescriptor } from './describe.ts';
import { exportOva } from './export.ts';
import { nothingToPowerOn, recordNothingToPowerOff } from './power.ts';
import { ovaSizedDisks, scratchSizeForOva } from './scratch-size.ts';
import { ovaSettings } from './settings.ts';
import { verifyOvaSource } from './verify.ts';
import type { ParseOvfOptions } from './ovf-descriptor.ts';

/** The import's virtualMachineName picks the VM of a vApp OVA. */
function selection(t: SourceTarget): ParseOvfOptions {
  const name = t.vmImport.spec.virtualMachineName;
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
    return t.vmImport.spec.virtualMachineName ?? '';
  },

  // The OVF is inside the archive: the export reads it (SourceExport.vm).
  async describe() {
    return undefined;
  },

  async scratchSize(t, sizing) {
    const spec = specOf<OvaSourceSpec>(t);
    const secret = t.credentials?.data;
    const probe = await verifyOvaSource(spec, secret);
    const contentLength = probe.sizeBytes !== undefined && probe.sizeBytes > 0 ? probe.sizeBytes : undefined;
    // With a Content-Length the OVF is read only when it comes first (one small read): it tells
    // compressed and staged disks, which can need more than twice the archive.
    const ovf =
      contentLength === undefined
        ? await readOvaDescriptor(spec, secret, undefined, selection(t))
        : await readLeadingOvaDescriptor(spec, secret, selection(t));
    return scratchSizeForOva(contentLength, ovf && ovaSizedDisks(ovf), sizing);
  },

  powerOff: (_t, deps) => recordNothingToPowerOff(deps),

  powerOn: async () => nothingToPowerOn,

  async exportDisks(t, opts) {
    const result = await exportOva(specOf<OvaSourceSpec>(t), t.credentials?.data, opts, selection(t));
    return { disks: result.disks, vm: result.vm, warnings: result.warnings };
  },

  // HTTP connections close with each download.
  close: async () => undefined,
};
