// The simulated sources of the benchmark: vcsim (NFC export of streamOptimized VMDKs over HTTPS)
// and the OpenStack simulator (Cinder volumes, Glance image download), one VM/server per disk
// spec, and the source raw content each import must reproduce.
import { join } from 'node:path';
import { ensurePki } from '../../local-cluster/pki.ts';
import type { OpenstackConnection } from '../../functions/shared/sources/openstack/config.ts';
import type { VmwareConnection } from '../../functions/shared/sources/vmware/index.ts';
import { Inventory } from '../../test/simulators/inventory.ts';
import { startOpenstackSimulator, type OpenstackSimulator } from '../../test/simulators/openstack/index.ts';
import { startVcsim, type Vcsim } from '../../test/simulators/vcsim/index.ts';

export interface DiskSpec {
  sizeMiB: number;
  allocatedPercent: number;
  seed: number;
}

export interface BenchVm {
  name: string;
  disks: DiskSpec[];
}

export const vmName = (d: DiskSpec) => `bench-${d.sizeMiB}m-${d.allocatedPercent}p-s${d.seed}`;

export function benchInventory(vmwareVms: BenchVm[], openstackServers: BenchVm[]): Inventory {
  return Inventory.parse({
    vmware: {
      vms: vmwareVms.map((vm) => ({
        name: vm.name,
        powerState: 'poweredOff',
        disks: vm.disks.map((d) => ({ ...d, controller: 'pvscsi' })),
      })),
    },
    openstack: {
      servers: openstackServers.map((vm) => ({
        name: vm.name,
        status: 'SHUTOFF',
        flavor: { vcpus: 1, ramMiB: 512 },
        volumes: vm.disks.map((d, i) => ({ ...d, bootable: i === 0 })),
      })),
    },
  });
}

/**
 * Starts vcsim for `vms`. The streamOptimized VMDKs (qemu-img, single-threaded, slow for random
 * data) are made once per spec and cached in workDir; a first run makes them two at a time.
 */
export async function startBenchVcsim(vms: BenchVm[], workDir: string): Promise<Vcsim> {
  await ensurePki(join(workDir, 'pki'), ['127.0.0.1', 'localhost']);
  const halves: BenchVm[][] = [[], []];
  const bytes = [0, 0];
  for (const vm of [...vms].sort((a, b) => weight(b) - weight(a))) {
    const i = bytes[0]! <= bytes[1]! ? 0 : 1;
    halves[i]!.push(vm);
    bytes[i]! += weight(vm);
  }
  const warm = await Promise.all(
    halves.filter((h) => h.length).map((h) => startVcsim({ inventory: benchInventory(h, []), workDir })),
  );
  await Promise.all(warm.map((v) => v.stop()));
  return startVcsim({ inventory: benchInventory(vms, []), workDir });
}

const weight = (vm: BenchVm) => vm.disks.reduce((n, d) => n + d.sizeMiB * d.allocatedPercent, 0);

export function vmwareConnection(vcsim: Vcsim): VmwareConnection {
  return {
    endpoint: vcsim.url,
    username: vcsim.username,
    password: vcsim.password,
    caCertPem: vcsim.caCertPem,
    insecureSkipVerify: false,
  };
}

export function vcsimSourceRaw(vcsim: Vcsim, vm: string): string[] {
  return vcsim.disks
    .filter((d) => d.vm === vm)
    .sort((a, b) => a.index - b.index)
    .map((d) => d.rawPath);
}

/**
 * Starts the OpenStack simulator for `servers`. Glance checksums are computed (once per content)
 * before the measurements, so neither way pays for them as the first to export a disk.
 */
export async function startBenchOpenstack(
  servers: BenchVm[],
  workDir: string,
  { warmChecksums = true } = {},
): Promise<OpenstackSimulator> {
  const sim = await startOpenstackSimulator({ inventory: benchInventory([], servers), workDir });
  // The model's checksum cache is private; reaching it keeps the cache out of the measurements.
  const model = sim.model as unknown as { hashOf(path: string): Promise<unknown> };
  if (warmChecksums) for (const v of sim.model.volumes.values()) await model.hashOf(v.path);
  return sim;
}

export function openstackConnection(sim: OpenstackSimulator): OpenstackConnection {
  return {
    endpoint: sim.url,
    region: sim.region,
    credentials: {
      username: sim.username,
      password: sim.password,
      projectName: sim.projectName,
      domainName: sim.domainName,
      caCertPem: sim.caCertPem!,
      insecureSkipVerify: false,
    },
  };
}

/** The volumes of server `name` as the cloud holds them (content padded to whole GiB), in order. */
export function openstackSourceRaw(sim: OpenstackSimulator, name: string): string[] {
  const server = [...sim.model.servers.values()].find((s) => s.name === name);
  if (!server) throw new Error(`no server ${name}`);
  return [...sim.model.volumes.values()]
    .filter((v) => v.attachments.some((a) => a.serverId === server.id))
    .sort((a, b) => a.attachments[0]!.device.localeCompare(b.attachments[0]!.device))
    .map((v) => v.path);
}
