// Verify a VmwareSource (log in, find the datacenter) and preflight an import of one of its VMs.
import { SourceError } from '../source-error.ts';
import type { VmwareConnection } from './connection.ts';
import { datacenterNetworks, findDatacenter, findVm, type VmLocation } from './inventory.ts';
import { readPowerState } from './power.ts';
import { toolsNotRunningMessage } from './power-step.ts';
import { withVimSession } from './session.ts';

/** Logs in and checks that the datacenter `dc` exists. Throws a SourceError otherwise. */
export async function verifyVmwareSource(
  conn: VmwareConnection,
  dc: string | null | undefined,
): Promise<void> {
  await withVimSession(conn, async (s) => {
    await findDatacenter(s, dc);
  });
}

export interface VmwarePreflightInput extends VmLocation {
  networkMapping?: ReadonlyArray<{ sourceNetwork?: string | null }> | null;
  forcePowerOff?: boolean | null;
}

/**
 * Source-specific preflight (upstream's, with one bug fixed: the whole sourceNetwork is compared,
 * the same way networks are matched later): every mapped source network exists in the
 * datacenter (standard or distributed portgroup); the VM exists; unless forcePowerOff or the VM
 * is already off, VMware Tools must be running so that the guest can be shut down.
 */
export async function preflightVmwareImport(
  conn: VmwareConnection,
  dc: string,
  input: VmwarePreflightInput,
): Promise<void> {
  await withVimSession(conn, async (s) => {
    const datacenter = await findDatacenter(s, dc);
    const networks = new Set([...(await datacenterNetworks(s, datacenter)).values()].map((n) => n.name));
    for (const mapping of input.networkMapping ?? []) {
      const name = mapping.sourceNetwork ?? '';
      if (!networks.has(name))
        throw new SourceError(
          'SourceNetworkNotFound',
          `source network '${name}' not found in datacenter ${dc} (known: ${[...networks].sort().join(', ') || 'none'})`,
        );
    }
    const vm = await findVm(s, dc, input);
    if (input.forcePowerOff) return;
    const state = await readPowerState(s, vm, input.name);
    if (state.powerState !== 'poweredOff' && !state.toolsRunning)
      throw new SourceError('ToolsNotRunning', toolsNotRunningMessage(input.name));
  });
}
