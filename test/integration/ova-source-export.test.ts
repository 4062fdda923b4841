// Exports OVAs built with qemu-img and GNU tar, served by a real HTTP server, and compares the
// resulting raw images byte for byte with the source disk content.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readOvaDescriptor } from '../../functions/shared/sources/ova/describe.ts';
import { exportOva } from '../../functions/shared/sources/ova/export.ts';
import { SourceError } from '../../functions/shared/sources/source-error.ts';
import type { DiskProgress } from '../../functions/shared/sources/types.ts';
import { buildOva, type OvaVmSpec } from '../../local-cluster/simulators/ova/build-ova.ts';
import { startOvaServer, type OvaServer } from '../../local-cluster/simulators/ova/server.ts';

const VM: OvaVmSpec = {
  cpus: 4,
  coresPerSocket: 2,
  memoryMiB: 512,
  firmware: 'efi',
  secureBoot: true,
  disks: [
    { sizeMiB: 8, controller: 'pvscsi', allocatedPercent: 50, seed: 11 },
    { sizeMiB: 5, controller: 'sata', allocatedPercent: 40, seed: 12 },
  ],
  nics: [
    { network: 'VM Network', type: 'vmxnet3', mac: '00:50:56:01:02:03' },
    { network: 'dvSwitch 1', type: 'e1000e', mac: '00:50:56:01:02:04' },
  ],
};

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

let root: string;
let server: OvaServer;
const rawDigests: string[] = [];

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'ova-export-test-'));
  const serve = join(root, 'serve');
  const rawDir = join(root, 'raw');
  await buildOva({ name: 'two-disks.ova', vm: VM, outPath: join(serve, 'two-disks.ova'), opts: { rawDir } });
  for (const i of [0, 1]) rawDigests.push(await sha256File(join(rawDir, `disk-${i}.raw`)));
  await Promise.all([
    buildOva({ name: 'ovf-last.ova', vm: VM, outPath: join(serve, 'ovf-last.ova'), opts: { ovfLast: true } }),
    buildOva({ name: 'corrupt.ova', vm: VM, outPath: join(serve, 'corrupt.ova'), opts: { corruptDisk: 1 } }),
    buildOva({
      name: 'corrupt-last.ova',
      vm: VM,
      outPath: join(serve, 'corrupt-last.ova'),
      opts: { corruptDisk: 0, ovfLast: true },
    }),
    buildOva({
      name: 'ovf2.ova',
      vm: VM,
      outPath: join(serve, 'ovf2.ova'),
      opts: { ovfVersion: 2, manifest: 'sha512' },
    }),
    buildOva({
      name: 'sha1-manifest.ova',
      vm: VM,
      outPath: join(serve, 'sha1-manifest.ova'),
      opts: { manifest: 'sha1' },
    }),
    buildOva({
      name: 'unsigned.ova',
      vm: VM,
      outPath: join(serve, 'unsigned.ova'),
      opts: { manifest: false },
    }),
  ]);
  server = await startOvaServer({ dir: serve });
});

after(async () => {
  await server?.stop();
  await rm(root, { recursive: true, force: true });
});

async function exportTo(name: string, progress: DiskProgress[] = []) {
  const scratchDir = await mkdtemp(join(root, `scratch-${name}-`));
  const result = await exportOva({ url: `${server.baseUrl}/${name}` }, undefined, {
    scratchDir,
    onProgress: (p) => progress.push(p),
  });
  return { scratchDir, result };
}

async function assertIdenticalToSource(paths: string[]): Promise<void> {
  assert.equal(paths.length, 2);
  for (const [i, path] of paths.entries()) {
    assert.equal(await sha256File(path), rawDigests[i], `disk ${i} differs from its source content`);
  }
}

describe('OVA export over HTTP', () => {
  it('exports an OVA with 2 disks and a SHA256 manifest byte-identical to the source disks', async () => {
    const progress: DiskProgress[] = [];
    const { scratchDir, result } = await exportTo('two-disks.ova', progress);
    await assertIdenticalToSource(result.disks.map((d) => d.path));
    assert.deepEqual(
      result.disks.map((d) => [d.index, d.path, d.sizeBytes, d.allocatedBytes, d.bus]),
      [
        [0, join(scratchDir, 'disk-0.raw'), 8 * 2 ** 20, 4 * 2 ** 20, 'scsi'],
        [1, join(scratchDir, 'disk-1.raw'), 5 * 2 ** 20, 2 * 2 ** 20, 'sata'],
      ],
    );
    // Sparse: the images take about their allocated bytes, not their size.
    const blocks = (await stat(result.disks[0]!.path)).blocks * 512;
    assert.ok(blocks <= 4 * 2 ** 20 + 65536, `disk-0 uses ${blocks} bytes on disk`);
    assert.deepEqual(await readdir(scratchDir).then((f) => f.sort()), ['disk-0.raw', 'disk-1.raw']);
    assert.deepEqual(result.warnings, []);
    assert.equal(result.vm.name, 'two-disks');
    assert.deepEqual(result.vm.cpu, { sockets: 2, cores: 2, threads: 1 });
    assert.equal(result.vm.memoryMiB, 512);
    assert.deepEqual(result.vm.firmware, { type: 'efi', secureBoot: true, tpm: false });
    assert.deepEqual(result.vm.nics, [
      { network: 'VM Network', mac: '00:50:56:01:02:03', model: 'virtio' },
      { network: 'dvSwitch 1', mac: '00:50:56:01:02:04', model: 'e1000e' },
    ]);
    // Progress: per disk pending → exporting (growing) → verifying → done, in bytes of the VMDK.
    for (const index of [0, 1]) {
      const mine = progress.filter((p) => p.index === index);
      assert.deepEqual([...new Set(mine.map((p) => p.phase))], ['pending', 'exporting', 'verifying', 'done']);
      const exporting = mine.filter((p) => p.phase === 'exporting').map((p) => p.bytesDone);
      assert.deepEqual(
        exporting,
        [...exporting].sort((a, b) => a - b),
      );
      assert.equal(mine.at(-1)?.bytesDone, mine.at(-1)?.bytesTotal);
    }
    // One GET of the whole archive, no staging and no second request.
    assert.deepEqual(
      server.requests.filter((r) => r.path === '/two-disks.ova').map((r) => `${r.method} ${r.status}`),
      ['GET 200'],
    );
  });

  it('fails on a checksum mismatch, naming the file, and leaves no image behind', async () => {
    const scratchDir = await mkdtemp(join(root, 'scratch-corrupt-'));
    await assert.rejects(
      exportOva({ url: `${server.baseUrl}/corrupt.ova` }, undefined, { scratchDir }),
      (e: unknown) => {
        assert.ok(e instanceof SourceError);
        assert.equal(e.reason, 'ChecksumMismatch');
        assert.match(
          e.message,
          /checksum mismatch for "corrupt-disk2\.vmdk": the manifest says SHA256 [0-9a-f]{64}/,
        );
        assert.equal(e.retryable, false);
        return true;
      },
    );
    assert.deepEqual(await readdir(scratchDir), []);
  });

  it('exports an archive whose OVF and manifest come after the disks', async () => {
    const { scratchDir, result } = await exportTo('ovf-last.ova');
    await assertIdenticalToSource(result.disks.map((d) => d.path));
    assert.deepEqual(await readdir(scratchDir).then((f) => f.sort()), ['disk-0.raw', 'disk-1.raw']);
    assert.deepEqual(
      result.vm.disks.map((d) => [d.label, d.bus]),
      [
        ['ovf-last-disk1.vmdk', 'scsi'],
        ['ovf-last-disk2.vmdk', 'sata'],
      ],
    );
    assert.deepEqual(result.warnings, []);
  });

  it('detects a corrupt disk when the manifest comes after it, and removes the images', async () => {
    const scratchDir = await mkdtemp(join(root, 'scratch-corrupt-last-'));
    await assert.rejects(
      exportOva({ url: `${server.baseUrl}/corrupt-last.ova` }, undefined, { scratchDir }),
      {
        name: 'SourceError',
        reason: 'ChecksumMismatch',
        message: /"corrupt-last-disk1\.vmdk"/,
      },
    );
    assert.deepEqual(await readdir(scratchDir), []);
  });

  it('exports an OVF 2.0 package (EthernetPortItem with MACs, StorageItem) with a SHA512 manifest', async () => {
    const { result } = await exportTo('ovf2.ova');
    await assertIdenticalToSource(result.disks.map((d) => d.path));
    assert.deepEqual(result.vm.nics, [
      { network: 'VM Network', mac: '00:50:56:01:02:03', model: 'virtio' },
      { network: 'dvSwitch 1', mac: '00:50:56:01:02:04', model: 'e1000e' },
    ]);
    assert.deepEqual(
      result.disks.map((d) => d.bus),
      ['scsi', 'sata'],
    );
  });

  it('accepts SHA1 manifests, and OVAs without a manifest with a warning', async () => {
    const sha1 = await exportTo('sha1-manifest.ova');
    assert.deepEqual(sha1.result.warnings, []);
    const { result } = await exportTo('unsigned.ova');
    await assertIdenticalToSource(result.disks.map((d) => d.path));
    assert.deepEqual(result.warnings, [
      'the OVA has no manifest (.mf); its files could not be checked against checksums',
    ]);
  });

  it('reports a file that is not an OVA and a missing file clearly', async () => {
    const scratchDir = await mkdtemp(join(root, 'scratch-bad-'));
    await assert.rejects(exportOva({ url: `${server.baseUrl}/nope.ova` }, undefined, { scratchDir }), {
      reason: 'NotFound',
      message: /GET http:\/\/127\.0\.0\.1:\d+\/nope\.ova returned HTTP 404/,
    });
    await writeFile(join(root, 'serve', 'readme.ova'), 'this is not a tar archive\n'.repeat(40));
    await assert.rejects(exportOva({ url: `${server.baseUrl}/readme.ova` }, undefined, { scratchDir }), {
      reason: 'InvalidOva',
    });
    assert.deepEqual(await readdir(scratchDir), []);
  });

  it('reads the VM description alone, with the OVF first or last, writing nothing', async () => {
    for (const name of ['two-disks.ova', 'ovf-last.ova']) {
      const d = await readOvaDescriptor({ url: `${server.baseUrl}/${name}` });
      assert.equal(d.vm.name, name.replace('.ova', ''));
      assert.deepEqual(
        d.vm.disks.map((x) => [x.sizeBytes, x.bus]),
        [
          [8 * 2 ** 20, 'scsi'],
          [5 * 2 ** 20, 'sata'],
        ],
      );
      assert.equal(d.vm.nics.length, 2);
    }
    await assert.rejects(readOvaDescriptor({ url: `${server.baseUrl}/readme.ova` }), {
      reason: 'InvalidOva',
    });
  });

  it('stops and cleans up when aborted mid-download', async () => {
    const scratchDir = await mkdtemp(join(root, 'scratch-abort-'));
    const controller = new AbortController();
    await assert.rejects(
      exportOva({ url: `${server.baseUrl}/two-disks.ova` }, undefined, {
        scratchDir,
        signal: controller.signal,
        onProgress: (p) => {
          if (p.phase === 'exporting' && p.bytesDone > 0) controller.abort();
        },
      }),
      { reason: 'Aborted' },
    );
    assert.deepEqual(await readdir(scratchDir), []);
  });
});
