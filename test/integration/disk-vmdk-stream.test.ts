import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { access, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeStreamOptimizedVmdk } from '../../functions/shared/disk/vmdk-stream.ts';
import { DiskFormatError } from '../../functions/shared/disk/errors.ts';
import {
  allocatedOnDisk,
  encodeVmwareStreamVmdk,
  pseudoRandom,
  qemuImg,
  tempDir,
  writeRawDisk,
} from './disk-helpers.ts';
import type { DataPiece } from './disk-helpers.ts';

const MiB = 1024 * 1024;

const shapes: { name: string; size: number; pieces: DataPiece[] }[] = [
  {
    name: 'data at start, middle (unaligned) and the very last bytes',
    size: 4 * MiB,
    pieces: [
      { offset: 0, length: 100_000 },
      { offset: 1.5 * MiB + 3000, length: 200_000 },
      { offset: 4 * MiB - 5000, length: 5000 },
    ],
  },
  { name: 'all zeros', size: 2 * MiB, pieces: [] },
  {
    name: '1 MiB + 512 bytes, data in the last sector',
    size: MiB + 512,
    pieces: [{ offset: MiB, length: 512 }],
  },
  {
    name: '3 MiB + 4096 bytes, data at start and in the last 4 KiB',
    size: 3 * MiB + 4096,
    pieces: [
      { offset: 0, length: 4096 },
      { offset: 3 * MiB, length: 4096 },
    ],
  },
];

const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

describe('decodeStreamOptimizedVmdk', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir('disk-vmdk-')));
  after(() => cleanup());

  for (const [i, shape] of shapes.entries()) {
    test(`qemu-img streamOptimized VMDK: ${shape.name}`, async () => {
      const raw = join(dir, `in-${i}.raw`);
      const vmdk = join(dir, `in-${i}.vmdk`);
      const out = join(dir, `out-${i}.raw`);
      const qemuOut = join(dir, `qemu-${i}.raw`);
      await writeRawDisk(raw, shape.size, shape.pieces, 100 + i);
      await qemuImg('convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', raw, vmdk);
      await qemuImg('convert', '-f', 'vmdk', '-O', 'raw', vmdk, qemuOut);

      const progress: number[] = [];
      // Small chunks so markers and grains straddle chunk boundaries.
      const result = await decodeStreamOptimizedVmdk(
        createReadStream(vmdk, { highWaterMark: 1000 + i * 777 }),
        out,
        {
          onProgress: (bytesIn) => progress.push(bytesIn),
        },
      );
      assert.equal(result.virtualSizeBytes, shape.size);
      assert.match(result.descriptor, /createType="streamOptimized"/);
      const expected = await readFile(raw);
      const actual = await readFile(out);
      assert.equal(actual.length, shape.size);
      assert.ok(actual.equals(expected), 'decoded disk equals the raw input');
      assert.ok(actual.equals(await readFile(qemuOut)), "decoded disk equals qemu-img's conversion");
      assert.equal(progress.at(-1), (await stat(vmdk)).size, 'progress ends at the full input size');

      const dataBytes = shape.pieces.reduce((n, p) => n + p.length, 0);
      assert.ok(result.allocatedBytes >= dataBytes, 'every data byte was written');
      assert.ok(
        result.allocatedBytes <= dataBytes + 2 * 64 * 1024 * shape.pieces.length,
        'only 64 KiB blocks with data',
      );
      assert.ok(
        (await allocatedOnDisk(out)) <= result.allocatedBytes + 64 * 1024,
        'the output file is sparse',
      );
    });
  }

  test('VMware-style stream (GD at end, GT/GD/footer/EOS markers, zero grains, trailing bytes)', async () => {
    const size = 2 * MiB + 1536; // final partial grain
    const raw = join(dir, 'vmw.raw');
    const vmdk = join(dir, 'vmw.vmdk');
    const out = join(dir, 'vmw-out.raw');
    await writeRawDisk(raw, size, [
      { offset: 70_000, length: 10_000 },
      { offset: size - 700, length: 700 },
    ]);
    const rawBytes = await readFile(raw);
    await writeFile(vmdk, encodeVmwareStreamVmdk(rawBytes, { zeroGrains: true }));
    // The encoder is checked against qemu's reader before our decoder is checked against it.
    assert.match(await qemuImg('compare', '-f', 'raw', '-F', 'vmdk', raw, vmdk), /Images are identical/);
    const input = Buffer.concat([await readFile(vmdk), Buffer.alloc(4096)]); // e.g. tar padding
    async function* chunks() {
      for (let i = 0; i < input.length; i += 65_000) yield new Uint8Array(input.subarray(i, i + 65_000));
    }
    const result = await decodeStreamOptimizedVmdk(chunks(), out);
    assert.equal(result.virtualSizeBytes, size);
    assert.match(result.descriptor, /ddb.adapterType = "lsilogic"/);
    assert.ok((await readFile(out)).equals(rawBytes));
    assert.ok(result.allocatedBytes <= 3 * 64 * 1024, 'zero grains are not written');
  });

  test('truncated input fails with TruncatedDiskStream and leaves no file', async () => {
    const raw = join(dir, 'trunc.raw');
    const vmdk = join(dir, 'trunc.vmdk');
    await writeRawDisk(raw, 2 * MiB, [
      { offset: 0, length: 300_000 },
      { offset: MiB, length: 300_000 },
    ]);
    await qemuImg('convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', raw, vmdk);
    const full = await readFile(vmdk);
    // Where the first grain ends (sector aligned): a cut there looks like a clean end of input.
    const firstGrainEnd = 65536 + Math.ceil((12 + full.readUInt32LE(65536 + 8)) / 512) * 512;
    const vmwFull = encodeVmwareStreamVmdk(await readFile(raw));
    const lastGrainEnd = vmwFull.length - 512 * 7; // before GT marker + GT (5), GD marker + GD, footer, EOS
    const cuts: [string, Buffer][] = [
      ['inside a grain', full.subarray(0, 65536 + 5000)],
      ['at a grain boundary (qemu, GD in header)', full.subarray(0, firstGrainEnd)],
      ['inside the metadata area', full.subarray(0, 3000)],
      ['after the last grain (VMware, GD at end)', vmwFull.subarray(0, lastGrainEnd - 512 * 5)],
    ];
    for (const [what, bytes] of cuts) {
      const out = join(dir, 'trunc-out.raw');
      await assert.rejects(
        decodeStreamOptimizedVmdk([new Uint8Array(bytes)], out),
        (e: unknown) =>
          e instanceof DiskFormatError && e.reason === 'TruncatedDiskStream' && /ended early/.test(e.message),
        what,
      );
      assert.equal(await exists(out), false, `no output left behind (${what})`);
    }
  });

  test('garbage, monolithicSparse and descriptor-only inputs are rejected clearly', async () => {
    const sparse = join(dir, 'hosted.vmdk');
    await qemuImg('create', '-f', 'vmdk', sparse, '4M');
    const flat = join(dir, 'flat.vmdk');
    await qemuImg('create', '-f', 'vmdk', '-o', 'subformat=monolithicFlat', flat, '1M');
    const cases: [string, Buffer, RegExp][] = [
      ['random bytes', pseudoRandom(100_000, 3), /not a streamOptimized VMDK: bad magic/],
      ['monolithicSparse', await readFile(sparse), /not a streamOptimized VMDK: .*monolithicSparse/],
      ['descriptor', await readFile(flat), /not a streamOptimized VMDK: input is a text descriptor/],
      ['empty', Buffer.alloc(0), /not a streamOptimized VMDK/],
    ];
    for (const [what, bytes, message] of cases) {
      const out = join(dir, 'garbage-out.raw');
      await assert.rejects(
        decodeStreamOptimizedVmdk([new Uint8Array(bytes)], out),
        (e: unknown) =>
          e instanceof DiskFormatError && e.reason === 'NotStreamOptimizedVmdk' && message.test(e.message),
        what,
      );
      assert.equal(await exists(out), false, what);
    }
  });

  test('a corrupt grain is rejected and leaves no file', async () => {
    const raw = join(dir, 'corrupt.raw');
    const vmdk = join(dir, 'corrupt.vmdk');
    await writeRawDisk(raw, MiB, [{ offset: 0, length: 200_000 }]);
    await qemuImg('convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', raw, vmdk);
    const bytes = await readFile(vmdk);
    bytes.fill(0x55, 65536 + 12 + 100, 65536 + 12 + 200); // damage the first grain's deflate data
    const out = join(dir, 'corrupt-out.raw');
    await assert.rejects(
      decodeStreamOptimizedVmdk([bytes], out),
      /corrupt streamOptimized VMDK: grain at LBA 0/,
    );
    assert.equal(await exists(out), false);
  });

  test('abort stops the decode, closes the input and removes the partial file', async () => {
    const raw = join(dir, 'abort.raw');
    const vmdk = join(dir, 'abort.vmdk');
    await writeRawDisk(raw, 4 * MiB, [{ offset: 0, length: 4 * MiB }]);
    await qemuImg('convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', raw, vmdk);
    const input = createReadStream(vmdk, { highWaterMark: 64 * 1024 });
    const controller = new AbortController();
    const out = join(dir, 'abort-out.raw');
    const decoding = decodeStreamOptimizedVmdk(input, out, {
      signal: controller.signal,
      onProgress: (bytesIn) => {
        if (bytesIn > 300_000) controller.abort();
      },
    });
    await assert.rejects(decoding, { name: 'AbortError' });
    assert.equal(await exists(out), false);
    assert.equal(input.destroyed, true, 'input stream destroyed');
  });

  test('an input that stalls is interrupted by abort', async () => {
    const raw = join(dir, 'stall.raw');
    const vmdk = join(dir, 'stall.vmdk');
    await writeRawDisk(raw, MiB, [{ offset: 0, length: 1000 }]);
    await qemuImg('convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', raw, vmdk);
    const head = (await readFile(vmdk)).subarray(0, 70_000);
    async function* stalling() {
      yield new Uint8Array(head);
      await new Promise(() => undefined); // never more data
    }
    const out = join(dir, 'stall-out.raw');
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 200);
    const decoding = decodeStreamOptimizedVmdk(stalling(), out, { signal: controller.signal });
    await assert.rejects(decoding, { name: 'AbortError' });
    clearTimeout(timer);
    assert.equal(await exists(out), false);
  });

  test('an existing output file is replaced', async () => {
    const raw = join(dir, 'replace.raw');
    const vmdk = join(dir, 'replace.vmdk');
    const out = join(dir, 'replace-out.raw');
    await writeRawDisk(raw, MiB, [{ offset: 512, length: 512 }]);
    await qemuImg('convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', raw, vmdk);
    await writeFile(out, pseudoRandom(3 * MiB, 9));
    await decodeStreamOptimizedVmdk(createReadStream(vmdk), out);
    assert.ok((await readFile(out)).equals(await readFile(raw)));
  });
});
