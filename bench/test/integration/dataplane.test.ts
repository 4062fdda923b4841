// The benchmark's data path end to end, on small disks: source → our export (the real source
// clients, in the exporter child process the bench uses) → the disk server (qcow2 and raw) → the
// image downloader (qemu-img convert of the qcow2) equals the source byte for byte, for disks whose
// data sits at their very end, all-zero disks and disks of odd size. vcsim sizes are whole MiB and
// Cinder sizes whole GiB, so odd sizes go through the decoders from a file instead of a simulator.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { toStreamOptimizedVmdk } from '../../../local-cluster/simulators/disk-content.ts';
import { execa } from 'execa';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeStreamOptimizedVmdk } from '../../../functions/shared/disk/vmdk-stream.ts';
import { writeSparseRaw } from '../../../functions/shared/disk/sparse-raw.ts';
import { findDataExtents } from '../../../functions/shared/disk/extents.ts';
import { chooseServedFormat } from '../../../functions/shared/disk/serve.ts';
import { runExporter } from '../../lib/data-path.ts';
import { downloadImage } from '../../lib/downloader.ts';
import { startDiskServer, type RunningServer } from '../../lib/servers.ts';
import {
  openstackConnection,
  openstackSourceRaw,
  startBenchOpenstack,
  startBenchVcsim,
  vcsimSourceRaw,
  vmwareConnection,
  type BenchVm,
} from '../../lib/sources.ts';
import { allocatedBlocks } from '../../../local-cluster/simulators/disk-content.ts';
import type { Vcsim } from '../../../local-cluster/simulators/vcsim/index.ts';
import type { OpenstackSimulator } from '../../../local-cluster/simulators/openstack/index.ts';

const MiB = 1024 * 1024;

/** A seed whose content has exactly one allocated 1 MiB block: the disk's last one. */
function seedWithDataOnlyAtTheEnd(sizeMiB: number, allocatedPercent: number): number {
  for (let seed = 1; seed < 100_000; seed++) {
    const blocks = allocatedBlocks({ sizeMiB, allocatedPercent, seed });
    if (blocks.length === 1 && blocks[0] === sizeMiB - 1) return seed;
  }
  throw new Error('no such seed');
}

let work: string;
let scratch: string;
let diskServer: RunningServer;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'dataplane-'));
  scratch = join(work, 'scratch');
  await mkdir(scratch, { recursive: true });
  diskServer = await startDiskServer(scratch);
});

after(async () => {
  await diskServer?.stop();
  await rm(work, { recursive: true, force: true });
});

/**
 * Downloads the disk from the disk server as qcow2, as raw and in the format the server picks
 * (fewer bytes: qcow2 unless >= 90 % is allocated); each must equal `source`.
 */
async function assertServedEquals(file: string, source: string, label: string): Promise<void> {
  const expected = await readFile(source);
  const path = join(scratch, file);
  const auto = chooseServedFormat((await stat(path)).size, await findDataExtents(path));
  for (const [name, format] of [
    [`${file}.qcow2`, 'qcow2'],
    [`${file}.raw`, 'raw'],
    [file, auto],
  ] as const) {
    const got = await downloadImage(diskServer.urlOf(name), join(work, 'harvester'), 'disk');
    assert.equal(got.format, format, `${label} via ${name}`);
    const actual = await readFile(got.rawPath);
    assert.equal(actual.length, expected.length, `${label} via ${name}: size`);
    assert.ok(actual.equals(expected), `${label} via ${name}: the downloaded disk differs from the source`);
    await rm(join(work, 'harvester'), { recursive: true, force: true });
  }
}

async function clearScratch(): Promise<void> {
  await rm(scratch, { recursive: true, force: true });
  await mkdir(scratch, { recursive: true });
}

describe('vcsim → NFC export → disk server → downloader', () => {
  const endSeed = seedWithDataOnlyAtTheEnd(4, 25);
  const vms: BenchVm[] = [
    { name: 'data-at-end', disks: [{ sizeMiB: 4, allocatedPercent: 25, seed: endSeed }] },
    { name: 'all-zero', disks: [{ sizeMiB: 3, allocatedPercent: 0, seed: 1 }] },
  ];
  let vcsim: Vcsim;
  before(async () => {
    vcsim = await startBenchVcsim(vms, join(work, 'vcsim'));
  });
  after(async () => {
    await vcsim?.stop();
  });
  for (const vm of vms) {
    test(vm.name, async () => {
      await clearScratch();
      const r = await runExporter(
        {
          way: 'ours',
          source: 'vmware',
          conn: vmwareConnection(vcsim),
          dc: vcsim.datacenter,
          vm: vm.name,
          scratchDir: scratch,
          concurrency: 2,
        },
        join(work, 'result.json'),
      );
      assert.deepEqual(r.files, ['disk-0.raw']);
      await assertServedEquals('disk-0.raw', vcsimSourceRaw(vcsim, vm.name)[0]!, vm.name);
    });
  }
});

describe('OpenStack simulator → Glance export → disk server → downloader', () => {
  // Cinder sizes are whole GiB: a 1024 MiB volume puts the content's last block at the disk's end.
  const endSeed = seedWithDataOnlyAtTheEnd(1024, 0.1);
  const servers: BenchVm[] = [
    { name: 'data-at-end', disks: [{ sizeMiB: 1024, allocatedPercent: 0.1, seed: endSeed }] },
    { name: 'all-zero', disks: [{ sizeMiB: 1, allocatedPercent: 0, seed: 1 }] },
  ];
  let sim: OpenstackSimulator;
  before(async () => {
    sim = await startBenchOpenstack(servers, join(work, 'openstack'), join(work, 'vcsim'));
  });
  after(async () => {
    await sim?.stop();
  });
  for (const server of servers) {
    test(server.name, async () => {
      await clearScratch();
      const r = await runExporter(
        {
          way: 'ours',
          source: 'openstack',
          conn: openstackConnection(sim),
          vm: server.name,
          scratchDir: scratch,
          concurrency: 2,
          pollMs: 20,
        },
        join(work, 'result.json'),
      );
      assert.deepEqual(r.files, ['disk-0.raw']);
      const source = openstackSourceRaw(sim, server.name)[0]!;
      // 1 GiB sources: compare with qemu-img and check the last MiB explicitly.
      for (const name of ['disk-0.raw.qcow2', 'disk-0.raw.raw', 'disk-0.raw']) {
        const got = await downloadImage(diskServer.urlOf(name), join(work, 'harvester'), 'disk');
        assert.equal((await stat(got.rawPath)).size, (await stat(source)).size);
        const cmp = await execa('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', got.rawPath, source], {
          reject: false,
        });
        assert.equal(cmp.exitCode, 0, `${server.name} via ${name}: ${cmp.stdout}`);
        const tail = async (p: string) => {
          const fh = await open(p, 'r');
          const size = (await fh.stat()).size;
          const buf = Buffer.alloc(MiB);
          await fh.read(buf, 0, MiB, size - MiB);
          await fh.close();
          return buf;
        };
        const [a, b] = [await tail(got.rawPath), await tail(source)];
        assert.ok(a.equals(b), `${server.name} via ${name}: last MiB differs`);
        if (server.name === 'data-at-end')
          assert.ok(
            a.some((x) => x !== 0),
            'the last MiB holds data',
          );
        await rm(join(work, 'harvester'), { recursive: true, force: true });
      }
    });
  }
});

describe('odd-sized disks (not a multiple of the grain or cluster) → disk server → downloader', () => {
  /** A raw disk of `size` bytes with data in its first 100 KiB and in its last 700 bytes. */
  async function oddDisk(path: string, size: number): Promise<void> {
    await truncate(path, 0).catch(() => undefined);
    const fh = await open(path, 'w');
    await fh.truncate(size);
    await fh.write(Buffer.alloc(100 * 1024, 0x5a), 0, 100 * 1024, 0);
    await fh.write(Buffer.alloc(700, 0xa5), 0, 700, size - 700);
    await fh.close();
  }

  test('streamOptimized VMDK decoded to scratch (size: 3 MiB + 7 sectors)', async () => {
    await clearScratch();
    const source = join(work, 'odd-vmdk.raw');
    await oddDisk(source, 3 * MiB + 7 * 512);
    const vmdk = join(work, 'odd.vmdk');
    await toStreamOptimizedVmdk(source, vmdk);
    const r = await decodeStreamOptimizedVmdk(createReadStream(vmdk), join(scratch, 'disk-0.raw'));
    assert.equal(r.virtualSizeBytes, 3 * MiB + 7 * 512);
    await assertServedEquals('disk-0.raw', source, 'odd VMDK');
  });

  // Sector multiple: qemu rounds a qcow2's virtual size up to 512 bytes, so a byte-odd raw disk
  // would come back from the downloader's qemu-img with zeros appended (no disk has such a size).
  test('raw stream written sparse to scratch (size: 3 MiB + 25 sectors)', async () => {
    await clearScratch();
    const source = join(work, 'odd-stream.raw');
    await oddDisk(source, 3 * MiB + 25 * 512);
    await writeSparseRaw(createReadStream(source), join(scratch, 'disk-0.raw'), {
      sizeBytes: 3 * MiB + 25 * 512,
    });
    await assertServedEquals('disk-0.raw', source, 'odd raw stream');
  });
});
