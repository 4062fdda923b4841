import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import { findDataExtents } from '../../functions/shared/disk/extents.ts';
import { createQcow2Stream, qcow2Layout } from '../../functions/shared/disk/qcow2-stream.ts';
import { createSparseRawStream } from '../../functions/shared/disk/raw-stream.ts';
import { writeSparseRaw } from '../../functions/shared/disk/sparse-raw.ts';
import { DiskFormatError } from '../../functions/shared/disk/errors.ts';
import { allocatedOnDisk, pseudoRandom, qemuImg, tempDir, writeRawDisk } from './disk-helpers.ts';
import type { DataPiece } from './disk-helpers.ts';

const MiB = 1024 * 1024;

const shapes: { name: string; size: number; pieces: DataPiece[] }[] = [
  {
    name: 'data at start, middle and the very last bytes',
    size: 4 * MiB,
    pieces: [
      { offset: 0, length: 100_000 },
      { offset: 1.5 * MiB + 3000, length: 200_000 },
      { offset: 4 * MiB - 5000, length: 5000 },
    ],
  },
  { name: 'all zeros', size: 2 * MiB, pieces: [] },
  { name: '1 MiB + 512 bytes', size: MiB + 512, pieces: [{ offset: MiB, length: 512 }] },
  { name: '3 MiB + 4096 bytes', size: 3 * MiB + 4096, pieces: [{ offset: 3 * MiB + 100, length: 3996 }] },
  {
    // Spans three L2 tables (512 MiB each) while staying a few MiB on disk.
    name: '1.2 GiB sparse, data in three L2 ranges',
    size: 1200 * MiB,
    pieces: [
      { offset: 10 * MiB, length: MiB },
      { offset: 700 * MiB, length: 300_000 },
      { offset: 1200 * MiB - 3000, length: 3000 },
    ],
  },
];

async function streamToFile(stream: Readable, path: string): Promise<void> {
  await pipeline(stream, createWriteStream(path));
}

async function digest(stream: Readable): Promise<{ hex: string; length: number }> {
  const h = createHash('sha256');
  let length = 0;
  for await (const chunk of stream) {
    h.update(chunk as Buffer);
    length += (chunk as Buffer).length;
  }
  return { hex: h.digest('hex'), length };
}

describe('extents and qcow2 streaming', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir('disk-qcow2-')));
  after(() => cleanup());

  for (const [i, shape] of shapes.entries()) {
    test(`qcow2 round trip through qemu-img: ${shape.name}`, async () => {
      const raw = join(dir, `q-${i}.raw`);
      const qcow2 = join(dir, `q-${i}.qcow2`);
      const back = join(dir, `q-${i}.back.raw`);
      await writeRawDisk(raw, shape.size, shape.pieces, 200 + i);

      const mapped = await findDataExtents(raw, { method: 'qemu-img' });
      const auto = await findDataExtents(raw);
      assert.deepEqual(auto, mapped, 'qemu-img map is accurate on this file system');
      const small = shape.size <= 16 * MiB;
      if (small) {
        // The scan finds non-zero blocks, the map allocated ones: the same here (random pieces).
        assert.deepEqual(await findDataExtents(raw, { method: 'scan' }), mapped);
      }
      for (const e of mapped) {
        assert.equal(e.offset % 65536, 0);
        assert.ok(e.length % 65536 === 0 || e.offset + e.length === shape.size);
      }

      const layout = qcow2Layout(shape.size, mapped);
      await streamToFile(createQcow2Stream(raw, mapped), qcow2);
      assert.equal((await stat(qcow2)).size, layout.totalLength);
      assert.match(await qemuImg('check', qcow2), /No errors were found on the image/);
      const info = JSON.parse(await qemuImg('info', '--output=json', qcow2)) as Record<string, unknown>;
      assert.equal(info['format'], 'qcow2');
      assert.equal(info['virtual-size'], shape.size);
      assert.match(await qemuImg('compare', '-f', 'raw', '-F', 'qcow2', raw, qcow2), /Images are identical/);
      if (small) {
        await qemuImg('convert', '-f', 'qcow2', '-O', 'raw', qcow2, back);
        assert.ok((await readFile(back)).equals(await readFile(raw)));
      }

      const dataBytes = mapped.reduce((n, e) => n + e.length, 0);
      assert.ok(layout.totalLength <= dataBytes + layout.dataOffset + 65536, 'qcow2 size ≈ data + metadata');
    });
  }

  test('byte ranges of the qcow2 stream concatenate to the whole stream', async () => {
    const raw = join(dir, 'ranges.raw');
    await writeRawDisk(raw, 3 * MiB + 4096, [
      { offset: 4096, length: 70_000 },
      { offset: 2 * MiB + 17, length: 300_000 },
    ]);
    const extents = await findDataExtents(raw);
    const layout = qcow2Layout(3 * MiB + 4096, extents);
    const whole = await digest(createQcow2Stream(raw, extents));
    assert.equal(whole.length, layout.totalLength);
    const cuts = [
      0,
      1,
      104,
      65535,
      65536,
      65537,
      layout.dataOffset - 1,
      layout.dataOffset + 4000,
      layout.totalLength - 1,
    ];
    const sorted = [...new Set(cuts)].sort((a, b) => a - b);
    const h = createHash('sha256');
    let start = 0;
    for (const cut of [...sorted.slice(1), layout.totalLength]) {
      for await (const chunk of createQcow2Stream(raw, extents, { start, end: cut - 1, layout }))
        h.update(chunk as Buffer);
      start = cut;
    }
    assert.equal(h.digest('hex'), whole.hex);
    await assert.rejects(
      digest(createQcow2Stream(raw, extents, { start: 0, end: layout.totalLength })),
      RangeError,
    );
  });

  test('sparse raw stream: ranges read the same bytes as the file', async () => {
    const raw = join(dir, 'rawstream.raw');
    await writeRawDisk(raw, 2 * MiB + 512, [{ offset: MiB - 10, length: 20 }]);
    const extents = await findDataExtents(raw);
    const file = await readFile(raw);
    for (const [start, end] of [
      [0, file.length - 1],
      [MiB - 100, MiB + 100],
      [file.length - 1, file.length - 1],
    ] as const) {
      const parts: Buffer[] = [];
      for await (const c of createSparseRawStream(raw, extents, { start, end })) parts.push(c as Buffer);
      assert.ok(Buffer.concat(parts).equals(file.subarray(start, end + 1)), `${start}-${end}`);
    }
  });
});

describe('writeSparseRaw', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir('disk-sparse-')));
  after(() => cleanup());

  function disk(size: number, pieces: DataPiece[]): Buffer {
    const b = Buffer.alloc(size);
    for (const [i, p] of pieces.entries()) pseudoRandom(p.length, 50 + i).copy(b, p.offset);
    return b;
  }
  function chunked(b: Buffer, size: number): Readable {
    return Readable.from(
      (function* () {
        for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
      })(),
      { objectMode: false },
    );
  }

  test('zero blocks become holes; content and unaligned tail are exact', async () => {
    const size = 5 * MiB + 1000;
    const content = disk(size, [
      { offset: 0, length: 1000 },
      { offset: 2 * MiB + 60_000, length: 10_000 }, // straddles a 64 KiB boundary
      { offset: size - 10, length: 10 },
    ]);
    const out = join(dir, 'glance.raw');
    const progress: number[] = [];
    const r = await writeSparseRaw(chunked(content, 33_333), out, { onProgress: (n) => progress.push(n) });
    assert.equal(r.sizeBytes, size);
    assert.ok((await readFile(out)).equals(content));
    assert.equal(r.allocatedBytes, 3 * 65536 + 1000); // three 64 KiB blocks and the 1000-byte tail
    assert.ok((await allocatedOnDisk(out)) <= r.allocatedBytes + 65536, 'file is sparse');
    assert.equal(progress.at(-1), size);
  });

  test('sizeBytes: a short stream fails and leaves no file; a long one too', async () => {
    const content = disk(MiB, [{ offset: 0, length: 100 }]);
    const out = join(dir, 'short.raw');
    await assert.rejects(
      writeSparseRaw(chunked(content, 65536), out, { sizeBytes: 2 * MiB }),
      (e: unknown) => e instanceof DiskFormatError && e.reason === 'TruncatedDiskStream',
    );
    await assert.rejects(stat(out), { code: 'ENOENT' });
    await assert.rejects(
      writeSparseRaw(chunked(content, 65536), out, { sizeBytes: MiB - 512 }),
      (e: unknown) => e instanceof DiskFormatError && e.reason === 'DiskSizeMismatch',
    );
    await assert.rejects(stat(out), { code: 'ENOENT' });
    const ok = await writeSparseRaw(chunked(content, 65536), out, { sizeBytes: MiB });
    assert.equal(ok.sizeBytes, MiB);
  });

  test('a failing input removes the partial file', async () => {
    const out = join(dir, 'broken.raw');
    async function* broken() {
      yield new Uint8Array(pseudoRandom(3 * MiB, 1));
      throw new Error('connection reset');
    }
    await assert.rejects(writeSparseRaw(broken(), out), /connection reset/);
    await assert.rejects(stat(out), { code: 'ENOENT' });
  });
});
