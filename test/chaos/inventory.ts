// The sources the chaos rows import from: one multi-disk VM per row, so that every row starts from
// a source in a known power state with no lease, snapshot or session left by another row.
import type { Inventory } from '../../local-cluster/simulators/inventory.ts';
import type { ChaosSource, ChaosTarget } from './fault.ts';

/** The disks of every chaos VM: a fully allocated one and a half-allocated one. */
export const CHAOS_DISKS = [
  { sizeMiB: 64, allocatedPercent: 100 },
  { sizeMiB: 32, allocatedPercent: 50 },
] as const;

export function chaosTarget(row: number, source: ChaosSource): ChaosTarget {
  const vmName = `chaos-${row}`;
  return { namespace: 'default', name: `chaos-${row}-${source}`, source, vmName };
}

/** The inventory for `targets` (row order gives each disk its own content seed). */
export function chaosInventory(targets: ChaosTarget[]): Inventory {
  const disks = (row: number) => CHAOS_DISKS.map((d, i) => ({ ...d, seed: 1000 + row * 10 + i }));
  const rowOf = (t: ChaosTarget) => Number(/^chaos-(\d+)$/.exec(t.vmName)![1]);
  const of = (source: ChaosSource) => targets.filter((t) => t.source === source);
  return {
    vmware: {
      datacenter: 'DC0',
      networks: [{ name: 'VM Network', type: 'standard' }],
      vms: of('vmware').map((t) => ({
        name: t.vmName,
        powerState: 'poweredOn',
        toolsRunning: true,
        shutdownSeconds: 1,
        guestId: 'otherLinux64Guest',
        cpus: 1,
        coresPerSocket: 1,
        memoryMiB: 256,
        firmware: 'bios',
        secureBoot: false,
        tpm: false,
        disks: disks(rowOf(t)).map((d, i) => ({ ...d, controller: i ? 'sata' : 'pvscsi' })),
        nics: [{ network: 'VM Network', type: 'vmxnet3' }],
      })),
    },
    openstack: {
      region: 'RegionOne',
      networks: ['shared'],
      servers: of('openstack').map((t) => ({
        name: t.vmName,
        status: 'ACTIVE',
        flavor: { vcpus: 1, ramMiB: 256 },
        volumes: disks(rowOf(t)).map((d, i) => ({ ...d, bootable: i === 0, imageProperties: {} })),
        bootFromImage: false,
        ports: [{ network: 'shared' }],
      })),
    },
    ova: of('ova').map((t) => ({
      name: `${t.vmName}.ova`,
      diskFormat: 'streamOptimized',
      vm: {
        cpus: 1,
        coresPerSocket: 1,
        memoryMiB: 256,
        firmware: 'bios',
        secureBoot: false,
        tpm: false,
        disks: disks(rowOf(t)).map((d, i) => ({ ...d, controller: i ? 'sata' : 'pvscsi' })),
        nics: [],
      },
    })),
  };
}
