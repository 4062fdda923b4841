// The vSphere source: vim25 over node-soap (session.ts), VMs found by inventory path, disks
// exported through an NFC export lease as streamOptimized VMDKs.
import type { VmwareSourceSpec } from '../../api/index.ts';
import { numberSetting } from '../../settings.ts';
import type { SourceAdapter, SourceTarget } from '../adapter.ts';
import { scratchSizeForDisks } from '../scratch-size.ts';
import { requiredCredentials, specOf } from '../source-target.ts';
import { resolveVmwareConnection } from './connection.ts';
import { describeVmwareVm } from './describe.ts';
import { exportVmwareVm } from './export.ts';
import { powerOffVmwareVm, powerOnVmwareVm } from './power.ts';
import { closeVmwareSessions } from './session.ts';
import { vmwareSettings } from './settings.ts';
import { preflightVmwareImport, verifyVmwareSource } from './verify.ts';

function connectionOf(t: Omit<SourceTarget, 'vmImport'>) {
  const spec = specOf<VmwareSourceSpec>(t);
  const credentials = requiredCredentials(t);
  return { conn: resolveVmwareConnection(spec, credentials.data, credentials.name), dc: spec.dc ?? '' };
}

function locationOf(t: SourceTarget) {
  return {
    ...connectionOf(t),
    vm: { name: t.vmImport.spec.virtualMachineName ?? '', folder: t.vmImport.spec.folder },
  };
}

export const adapter: SourceAdapter = {
  label: 'vSphere',
  hasPower: true,
  settings: vmwareSettings,

  async verify(t) {
    const { conn } = connectionOf(t);
    await verifyVmwareSource(conn, specOf<VmwareSourceSpec>(t).dc);
  },

  async preflight(t) {
    const { conn, dc, vm } = locationOf(t);
    await preflightVmwareImport(conn, dc, {
      ...vm,
      networkMapping: t.vmImport.spec.networkMapping,
      forcePowerOff: t.vmImport.spec.forcePowerOff,
    });
    return { warnings: [] };
  },

  async resolveVmName(t) {
    return t.vmImport.spec.virtualMachineName ?? '';
  },

  async describe(t) {
    const { conn, dc, vm } = locationOf(t);
    return describeVmwareVm(conn, dc, vm);
  },

  async scratchSize(t, sizing) {
    const { conn, dc, vm } = locationOf(t);
    return scratchSizeForDisks((await describeVmwareVm(conn, dc, vm)).disks, sizing);
  },

  async powerOff(t, deps) {
    const { conn, dc, vm } = locationOf(t);
    const timeoutMs = numberSetting('POWER_OFF_TIMEOUT_SECONDS', deps.env, 1) * 1000;
    await powerOffVmwareVm(conn, dc, vm, t.vmImport.spec, deps, timeoutMs);
  },

  async powerOn(t) {
    const { conn, dc, vm } = locationOf(t);
    return powerOnVmwareVm(conn, dc, vm);
  },

  async exportDisks(t, opts) {
    const { conn, dc, vm } = locationOf(t);
    return { disks: await exportVmwareVm(conn, dc, vm, opts), warnings: [] };
  },

  close: closeVmwareSessions,
};
