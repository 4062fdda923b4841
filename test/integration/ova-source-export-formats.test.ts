// OVAs as tools other than a plain ovftool export write them, built with the real tools (qemu-img,
// gzip, GNU tar) and served over HTTP: a vApp (one export per VM), gzip-compressed and chunked
// disk files, and disks in monolithicSparse VMDK, raw and qcow2. Each exported disk must be
// byte-identical to its source content, and the scratch directory must hold nothing else.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readLeadingOvaDescriptor } from '../../functions/shared/sources/ova/describe.ts';
import { exportOva } from '../../functions/shared/sources/ova/export.ts';
import { ovaSizedDisks } from '../../functions/shared/sources/ova/scratch-size.ts';
import type { DiskProgress } from '../../functions/shared/sources/types.ts';
import {
  buildOva,
  type BuildOvaOptions,
  type OvaVmSpec,
} from '../../local-cluster/simulators/ova/build-ova.ts';
import { startOvaServer, type OvaServer } from '../../local-cluster/simulators/ova/server.ts';

const MiB = 2 ** 20;
const vm = (seed: number, controller: 'sata' | 'pvscsi'): OvaVmSpec => ({
  cpus: 1,
  memoryMiB: 128,
  firmware: 'bios',
  disks: [{ sizeMiB: 6, controller, allocatedPercent: 50, seed }],
  nics: [],
});

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

let root: string;
let server: OvaServer;

const singles: Record<string, BuildOvaOptions> = {
  'gzip.ova': { compression: 'gzip' },
  'chunked.ova': { chunkSizeBytes: 1 * MiB },
  'gzip-chunked.ova': { compression: 'gzip', chunkSizeBytes: 256 * 1024 },
  'qcow2.ova': { diskFormat: 'qcow2' },
  'qcow2-gzip-chunked.ova': { diskFormat: 'qcow2', compression: 'gzip', chunkSizeBytes: 256 * 1024 },
  'sparse.ova': { diskFormat: 'monolithicSparse' },
  'raw.ova': { diskFormat: 'raw' },
  'raw-gzip.ova': { diskFormat: 'raw', compression: 'gzip' },
  'chunked-corrupt.ova': { chunkSizeBytes: 1 * MiB, corruptDisk: 0 },
  'ovf-last.ova': { ovfLast: true },
};

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'ova-formats-test-'));
  const serve = join(root, 'serve');
  await buildOva({
    name: 'two-tier.ova',
    vms: [
      { ...vm(41, 'sata'), name: 'web' },
      { ...vm(42, 'pvscsi'), name: 'db' },
    ],
    outPath: join(serve, 'two-tier.ova'),
    opts: { rawDir: (name) => join(root, 'raw', name), compression: 'gzip', chunkSizeBytes: 1 * MiB },
  });
  for (const [name, opts] of Object.entries(singles)) {
    await buildOva({
      name,
      vm: vm(43, 'sata'),
      outPath: join(serve, name),
      opts: { ...opts, rawDir: join(root, 'raw', name) },
    });
  }
  server = await startOvaServer({ dir: serve });
});

after(async () => {
  await server?.stop();
  await rm(root, { recursive: true, force: true });
});

async function exportAndCompare(file: string, rawDir: string, virtualMachineName?: string) {
  const scratchDir = await mkdtemp(join(root, 'scratch-'));
  const progress: DiskProgress[] = [];
  const result = await exportOva(
    { url: `${server.baseUrl}/${file}` },
    undefined,
    { scratchDir, onProgress: (p) => progress.push(p) },
    virtualMachineName ? { virtualMachineName } : {},
  );
  assert.equal(result.disks.length, 1);
  const disk = result.disks[0]!;
  assert.equal(disk.sizeBytes, 6 * MiB);
  assert.equal(
    await sha256File(disk.path),
    await sha256File(join(rawDir, 'disk-0.raw')),
    `${file}: disk differs`,
  );
  assert.deepEqual(await readdir(scratchDir), ['disk-0.raw'], `${file}: scratch holds only the disk`);
  assert.equal(progress.at(-1)?.phase, 'done');
  return { result, progress };
}

describe('OVA export of vApps, compressed and chunked files, other disk formats', () => {
  it('imports each VM of a gzip-compressed, chunked vApp by its virtualMachineName', async () => {
    for (const name of ['web', 'db']) {
      const { result } = await exportAndCompare('two-tier.ova', join(root, 'raw', name), name);
      assert.equal(result.vm.name, name);
      assert.equal(result.vm.disks[0]?.bus, name === 'web' ? 'sata' : 'scsi');
      assert.match(result.warnings.join('\n'), new RegExp(`vApp of 2 VMs; importing "${name}"`));
    }
  });

  it('refuses a vApp export without a VM name, listing the VMs', async () => {
    const scratchDir = await mkdtemp(join(root, 'scratch-'));
    await assert.rejects(exportOva({ url: `${server.baseUrl}/two-tier.ova` }, undefined, { scratchDir }), {
      reason: 'VirtualMachineNotFound',
      message: /vApp \(VirtualSystemCollection\) of 2 VMs: "web", "db"/,
    });
    assert.deepEqual(await readdir(scratchDir), []);
  });

  for (const file of Object.keys(singles).filter((f) => !f.includes('corrupt'))) {
    it(`exports ${file} byte-identical to its source`, async () => {
      const { progress } = await exportAndCompare(file, join(root, 'raw', file));
      const staged = file.startsWith('qcow2') || file.startsWith('sparse');
      assert.equal(
        progress.some((p) => p.phase === 'converting'),
        staged,
        'only staged formats are converted',
      );
    });
  }

  it('reads the OVF for the scratch estimate only when it comes first', async () => {
    const qcow2 = await readLeadingOvaDescriptor({ url: `${server.baseUrl}/qcow2-gzip-chunked.ova` });
    assert.ok(qcow2);
    assert.deepEqual(
      [
        qcow2.disks[0]?.file?.compression,
        qcow2.disks[0]?.file?.chunkSizeBytes,
        ovaSizedDisks(qcow2)[0]?.staged,
      ],
      ['gzip', 256 * 1024, true],
    );
    assert.equal(
      ovaSizedDisks((await readLeadingOvaDescriptor({ url: `${server.baseUrl}/gzip.ova` }))!)[0]?.staged,
      false,
    );
    assert.equal(await readLeadingOvaDescriptor({ url: `${server.baseUrl}/ovf-last.ova` }), undefined);
  });

  it('names the damaged chunk of a chunked file and leaves nothing behind', async () => {
    const scratchDir = await mkdtemp(join(root, 'scratch-'));
    await assert.rejects(
      exportOva({ url: `${server.baseUrl}/chunked-corrupt.ova` }, undefined, { scratchDir }),
      { reason: 'ChecksumMismatch', message: /"chunked-corrupt-disk1\.vmdk\.000000000"/ },
    );
    assert.deepEqual(await readdir(scratchDir), []);
  });
});
