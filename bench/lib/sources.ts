// The simulated sources of the benchmark: vcsim (NFC export of streamOptimized VMDKs over HTTPS)
// and the OpenStack simulator (Cinder volumes, Glance image download), one VM/server per disk
// spec, and the source raw content each import must reproduce.
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ensurePki } from '../../local-cluster/pki.ts';
import type { VmwareConnection } from '../../functions/shared/sources/vmware/connection.ts';
import { cachedDiskContent, diskCachePath } from '../../local-cluster/simulators/disk-content.ts';
import { Inventory } from '../../local-cluster/simulators/inventory.ts';
import {
  startOpenstackSimulator,
  type OpenstackSimulator,
} from '../../local-cluster/simulators/openstack/index.ts';
import { startVcsim, type Vcsim } from '../../local-cluster/simulators/vcsim/index.ts';
import type { HashInput } from './content-hash-worker.ts';
import { writeStreamOptimizedVmdk } from './vmdk-fixture.ts';

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
 * The cache files vcsim's launcher (local-cluster/simulators/vcsim/index.ts) uses for a disk spec: it
 * reuses `<key>.vmdk` when it is not older than `<key>.raw`, and only then skips qemu-img.
 */
export function vcsimCachePaths(cacheDir: string, spec: DiskSpec): { rawPath: string; vmdkPath: string } {
  return { rawPath: diskCachePath(cacheDir, spec), vmdkPath: diskCachePath(cacheDir, spec, 'vmdk') };
}

async function fresh(vmdkPath: string, rawPath: string): Promise<boolean> {
  const [v, r] = await Promise.all([
    stat(vmdkPath).catch(() => undefined),
    stat(rawPath).catch(() => undefined),
  ]);
  return !!v && !!r && v.mtimeMs >= r.mtimeMs;
}

/**
 * Makes the raw content and streamOptimized VMDK of every disk spec not yet in vcsim's cache
 * (bench/lib/vmdk-fixture.ts, instead of qemu-img's ~20 MB/s), two disks at a time. Returns
 * the seconds spent and how many disks were made.
 */
export async function prepareVcsimDisks(
  vms: BenchVm[],
  workDir: string,
): Promise<{ seconds: number; made: number }> {
  const t0 = Date.now();
  const cacheDir = join(workDir, 'disk-cache');
  await mkdir(cacheDir, { recursive: true });
  const specs = new Map<string, DiskSpec>();
  for (const d of vms.flatMap((vm) => vm.disks)) specs.set(vcsimCachePaths(cacheDir, d).vmdkPath, d);
  const todo: DiskSpec[] = [];
  for (const d of specs.values()) {
    const { rawPath, vmdkPath } = vcsimCachePaths(cacheDir, d);
    if (!(await fresh(vmdkPath, rawPath))) todo.push(d);
  }
  todo.sort((a, b) => b.sizeMiB * b.allocatedPercent - a.sizeMiB * a.allocatedPercent);
  const worker = async () => {
    for (let d = todo.shift(); d; d = todo.shift()) {
      const { rawPath, vmdkPath } = vcsimCachePaths(cacheDir, d);
      await rm(rawPath, { force: true }); // its VMDK is stale or missing: make both again
      await rm(checksumsFile(rawPath), { force: true });
      await cachedDiskContent(cacheDir, d);
      // Glance checksums of the content (the OpenStack part needs them) hash on the CPU while
      // the VMDK is mostly waiting for the disk.
      void contentChecksums(rawPath, d).catch(() => undefined); // awaited (and reported) later
      await writeStreamOptimizedVmdk(rawPath, vmdkPath);
    }
  };
  const made = todo.length;
  await Promise.all([worker(), worker()]);
  return { seconds: (Date.now() - t0) / 1000, made };
}

/** Starts vcsim for `vms` (their VMDKs made first by prepareVcsimDisks when not cached). */
export async function startBenchVcsim(vms: BenchVm[], workDir: string): Promise<Vcsim> {
  await ensurePki(join(workDir, 'pki'), ['127.0.0.1', 'localhost']);
  await prepareVcsimDisks(vms, workDir);
  return startVcsim({ inventory: benchInventory(vms, []), workDir });
}

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

/** `algo` digest (hex) of a disk-content spec's bytes or of a file, computed in a worker thread. */
export function contentHash(input: HashInput, algo: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./content-hash-worker.ts', import.meta.url), {
      workerData: { input, algo },
    });
    w.once('message', (m: string) => resolve(m));
    w.once('error', reject);
    w.once('exit', (code) => (code ? reject(new Error(`hash worker exited ${code}`)) : undefined));
  });
}

const checksumsFile = (contentPath: string) => `${contentPath}.checksums.json`;
const checksums = new Map<string, Promise<{ md5: string; sha512: string }>>();

/**
 * md5 and sha512 of the content file of `spec` (Glance's checksum and os_hash_value), each in a
 * worker thread, once per process and kept next to the file for the next run.
 */
function contentChecksums(
  contentPath: string,
  spec: DiskSpec | undefined,
): Promise<{ md5: string; sha512: string }> {
  let sums = checksums.get(contentPath);
  if (!sums) {
    sums = (async () => {
      const saved = await readFile(checksumsFile(contentPath), 'utf8')
        .then((t) => JSON.parse(t) as { md5: string; sha512: string })
        .catch(() => undefined);
      if (saved) return saved;
      const input: HashInput = spec ? { spec } : { path: contentPath };
      const [md5, sha512] = await Promise.all([contentHash(input, 'md5'), contentHash(input, 'sha512')]);
      await writeFile(checksumsFile(contentPath), JSON.stringify({ md5, sha512 }));
      return { md5, sha512 };
    })();
    checksums.set(contentPath, sums);
  }
  return sums;
}

/**
 * Starts the OpenStack simulator for `servers`, on a Ceph-like backend (snapshots, volumes from
 * snapshots and uploads to Glance are copy-on-write clones, as with RBD), its volumes sharing
 * vcsim's disk-content cache under `cacheDir`. Glance checksums (md5 + sha512, what the model
 * computes when an image becomes active) are computed before the measurements, so neither way
 * pays for them as the first to export a disk (contentChecksums, mostly done while the VMDKs
 * were made).
 */
export async function startBenchOpenstack(
  servers: BenchVm[],
  workDir: string,
  cacheDir: string,
): Promise<OpenstackSimulator> {
  const sim = await startOpenstackSimulator({
    inventory: benchInventory([], servers),
    workDir,
    storage: 'clone',
    diskCacheDir: join(cacheDir, 'disk-cache'),
  });
  const specs = new Map(
    servers.flatMap((vm) => vm.disks).map((d) => [diskCachePath(join(cacheDir, 'disk-cache'), d), d]),
  );
  // A volume the simulator padded to whole GiB (--quick sizes) is hashed from its file.
  for (const contentPath of new Set(sim.model.volumeContents().map((v) => v.contentPath)))
    sim.model.knowChecksums(contentPath, await contentChecksums(contentPath, specs.get(contentPath)));
  return sim;
}

export { openstackConnection } from '../../local-cluster/simulators/openstack/connection.ts';

/** The volumes of server `name` as the cloud holds them (content padded to whole GiB), in order. */
export function openstackSourceRaw(sim: OpenstackSimulator, name: string): string[] {
  const server = [...sim.model.servers.values()].find((s) => s.name === name);
  if (!server) throw new Error(`no server ${name}`);
  return [...sim.model.volumes.values()]
    .filter((v) => v.attachments.some((a) => a.serverId === server.id))
    .sort((a, b) => a.attachments[0]!.device.localeCompare(b.attachments[0]!.device))
    .map((v) => v.path);
}
