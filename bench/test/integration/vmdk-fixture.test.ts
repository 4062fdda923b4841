// The benchmark's fast streamOptimized VMDK writer (bench/lib/vmdk-fixture.ts) must make files
// that qemu-img and our decoder both read back as the raw disk.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, readFile, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { contentHash } from '../../lib/sources.ts';
import { writeStreamOptimizedVmdk } from '../../lib/vmdk-fixture.ts';
import { decodeStreamOptimizedVmdk } from '../../../functions/shared/disk/vmdk-stream.ts';
import { writeDiskContent } from '../../../local-cluster/simulators/disk-content.ts';

let dir: string;
before(async () => (dir = await mkdtemp(join(tmpdir(), 'disk-vmdk-fixture-'))));
after(() => rm(dir, { recursive: true, force: true }));
const qemuImg = async (...args: string[]) => (await execa('qemu-img', args)).stdout;

for (const shape of [
  { name: '24 MiB, 50 % allocated', sizeMiB: 24, allocatedPercent: 50, extraBytes: 0 },
  {
    name: '9 MiB + 3 sectors, 100 % allocated (partial last grain)',
    sizeMiB: 9,
    allocatedPercent: 100,
    extraBytes: 1536,
  },
  { name: '8 MiB, empty', sizeMiB: 8, allocatedPercent: 0, extraBytes: 0 },
]) {
  test(`bench VMDK fixture: ${shape.name}`, async () => {
    const raw = join(dir, `${shape.sizeMiB}-${shape.allocatedPercent}.raw`);
    const vmdk = `${raw}.vmdk`;
    const out = `${raw}.decoded`;
    await writeDiskContent(raw, {
      sizeMiB: shape.sizeMiB,
      allocatedPercent: shape.allocatedPercent,
      seed: 5,
    });
    if (shape.extraBytes) {
      // Data up to the very end: the last grain is partial.
      await truncate(raw, shape.sizeMiB * 1024 * 1024 + shape.extraBytes);
      const fh = await open(raw, 'r+');
      await fh.write(Buffer.alloc(shape.extraBytes, 0xab), 0, shape.extraBytes, shape.sizeMiB * 1024 * 1024);
      await fh.close();
    }
    const made = await writeStreamOptimizedVmdk(raw, vmdk);
    assert.equal(made.bytes, (await stat(vmdk)).size);
    const info = JSON.parse(await qemuImg('info', '--output=json', vmdk)) as {
      format: string;
      'virtual-size': number;
      'format-specific'?: { data?: { 'create-type'?: string } };
    };
    assert.equal(info.format, 'vmdk');
    assert.equal(info['format-specific']?.data?.['create-type'], 'streamOptimized');
    assert.equal(info['virtual-size'], (await stat(raw)).size);
    await qemuImg('compare', '-f', 'raw', '-F', 'vmdk', raw, vmdk); // exits non-zero if they differ
    const r = await decodeStreamOptimizedVmdk(createReadStream(vmdk), out);
    assert.equal(r.virtualSizeBytes, (await stat(raw)).size);
    assert.ok((await readFile(out)).equals(await readFile(raw)), 'decoded disk equals the raw disk');
  });
}

test('bench Glance checksums computed from the content spec equal those of the written file', async () => {
  const spec = { sizeMiB: 12, allocatedPercent: 40, seed: 77 };
  const raw = join(dir, 'checksummed.raw');
  await writeDiskContent(raw, spec);
  const bytes = await readFile(raw);
  for (const algo of ['md5', 'sha512'])
    for (const input of [{ spec }, { path: raw }])
      assert.equal(await contentHash(input, algo), createHash(algo).update(bytes).digest('hex'), algo);
});
