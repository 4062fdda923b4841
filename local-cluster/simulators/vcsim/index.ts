// Starts the vcsim-export simulator (main.go in this folder) for tests and the local cluster:
// writes every disk's deterministic raw content, converts it to a streamOptimized VMDK with
// qemu-img (cached by content spec), starts the binary on an ephemeral port with real TLS and
// waits for its ready line.
import { execa, type ResultPromise } from 'execa';
import { createHash } from 'node:crypto';
import { mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ensurePki } from '../../pki.ts';
import { cachedDiskContent, diskCachePath, toStreamOptimizedVmdk } from '../disk-content.ts';
import { loadInventory, type Inventory } from '../inventory.ts';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const BUILD_SCRIPT = join(REPO, 'local-cluster/setup.d/10-vcsim.sh');

export interface StartVcsimOptions {
  inventoryFile?: string;
  inventory?: Inventory;
  /** Holds the PKI, the disk cache and the simulator's config; reused between runs. */
  workDir: string;
  /** Seconds without HttpNfcLeaseProgress before an export lease fails (default 300). */
  leaseTimeoutSeconds?: number;
  /** Also writes the simulator's log lines here (default: kept in memory, see `logs()`). */
  logFile?: string;
  /** Address to listen on (default 127.0.0.1); its certificate carries it. */
  host?: string;
}

export interface VcsimDisk {
  vm: string;
  index: number;
  /** The deterministic raw content of the disk (what an import must reproduce). */
  rawPath: string;
  /** The streamOptimized VMDK the simulator serves for it. */
  vmdkPath: string;
  sizeBytes: number;
  allocatedBytes: number;
}

export interface Vcsim {
  url: string;
  username: string;
  password: string;
  datacenter: string;
  caCertPem: string;
  disks: VcsimDisk[];
  /** The simulator's stderr so far (for test diagnostics). */
  logs(): string;
  stop(): Promise<void>;
}

async function isNewer(path: string, than: string): Promise<boolean> {
  try {
    return (await stat(path)).mtimeMs >= (await stat(than)).mtimeMs;
  } catch {
    return false;
  }
}

/** Raw content + streamOptimized VMDK for one disk spec, cached under `cacheDir` by spec. */
async function ensureDiskFiles(
  cacheDir: string,
  spec: { sizeMiB: number; allocatedPercent: number; seed: number },
): Promise<{ rawPath: string; vmdkPath: string; sizeBytes: number; allocatedBytes: number }> {
  const rawPath = diskCachePath(cacheDir, spec);
  const vmdkPath = diskCachePath(cacheDir, spec, 'vmdk');
  const sizeBytes = spec.sizeMiB * 1024 * 1024;
  const allocatedBytes = Math.round((spec.sizeMiB * spec.allocatedPercent) / 100) * 1024 * 1024;
  if (!(await isNewer(vmdkPath, rawPath))) {
    await cachedDiskContent(cacheDir, spec);
    const tmp = `${vmdkPath}.tmp`;
    await toStreamOptimizedVmdk(rawPath, tmp);
    await rename(tmp, vmdkPath);
  }
  return { rawPath, vmdkPath, sizeBytes, allocatedBytes };
}

/** Builds the simulator when its sources changed; returns the cached binary's path. */
async function ensureBinary(): Promise<string> {
  const { stdout } = await execa('bash', [BUILD_SCRIPT], { stdout: 'pipe', stderr: 'inherit' });
  return stdout.trim().split('\n').at(-1) ?? '';
}

export async function startVcsim(options: StartVcsimOptions): Promise<Vcsim> {
  const inventory = options.inventory ?? (await loadInventory(options.inventoryFile));
  const vmware = inventory.vmware ?? { datacenter: 'DC0', networks: [], vms: [] };
  const workDir = resolve(options.workDir);
  await mkdir(workDir, { recursive: true });
  const [pki, binary] = await Promise.all([
    ensurePki(join(workDir, 'pki'), [...new Set(['127.0.0.1', 'localhost', options.host ?? '127.0.0.1'])]),
    ensureBinary(),
  ]);

  const disks: VcsimDisk[] = [];
  const vms = [];
  for (const vm of vmware.vms) {
    const vmDisks = [];
    for (const [index, disk] of vm.disks.entries()) {
      const files = await ensureDiskFiles(join(workDir, 'disk-cache'), disk);
      disks.push({ vm: vm.name, index, ...files });
      vmDisks.push({ sizeMiB: disk.sizeMiB, controller: disk.controller, vmdkPath: files.vmdkPath });
    }
    vms.push({ ...vm, folder: vm.folder ?? '', disks: vmDisks });
  }
  const configPath = join(workDir, 'vcsim-inventory.json');
  await writeFile(
    configPath,
    JSON.stringify({ datacenter: vmware.datacenter, networks: vmware.networks, vms }, null, 2),
  );

  const username = 'administrator@vsphere.local';
  const password = createHash('sha256')
    .update(`vcsim:${workDir}:${process.pid}:${Date.now()}`)
    .digest('hex')
    .slice(0, 20);
  const child: ResultPromise = execa(
    binary,
    [
      `-config=${configPath}`,
      `-listen=${options.host ?? '127.0.0.1'}:0`,
      `-tls-cert=${pki.certPath}`,
      `-tls-key=${pki.keyPath}`,
      `-username=${username}`,
      `-password=${password}`,
      `-lease-timeout=${options.leaseTimeoutSeconds ?? 300}`,
    ],
    { stdout: 'pipe', stderr: 'pipe', reject: false, cleanup: true },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    if (stderr.length > 1_000_000) stderr = stderr.slice(-500_000);
  });
  if (options.logFile) {
    const { createWriteStream } = await import('node:fs');
    const log = createWriteStream(options.logFile, { flags: 'a' });
    child.stderr?.pipe(log);
  }

  const ready = await new Promise<{ url: string; datacenter: string }>((resolveReady, rejectReady) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(
      () => rejectReady(new Error(`vcsim did not start within 60 s:\n${stderr}`)),
      60_000,
    );
    lines.on('line', (line) => {
      try {
        const event = JSON.parse(line) as { event?: string; url: string; datacenter: string };
        if (event.event === 'ready') {
          clearTimeout(timer);
          resolveReady(event);
        }
      } catch {
        // not a status line
      }
    });
    void child.then((result) => {
      clearTimeout(timer);
      rejectReady(
        new Error(`vcsim exited (${result.exitCode ?? result.signal}) before it was ready:\n${stderr}`),
      );
    });
  });

  let stopped: Promise<void> | undefined;
  return {
    url: ready.url,
    username,
    password,
    datacenter: ready.datacenter,
    caCertPem: pki.caCertPem,
    disks,
    logs: () => stderr,
    stop: () =>
      (stopped ??= (async () => {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await child;
        clearTimeout(timer);
      })()),
  };
}
