// SparseFileWriter with O_DIRECT: aligned runs of aligned stage buffers bypass the page cache,
// everything else (an odd-sized tail, unaligned memory) is written buffered; the file holds
// exactly the bytes given, with holes where they were zero.
import assert from 'node:assert/strict';
import { randomFillSync } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { allocAligned, directIoEligible } from '../../functions/shared/disk/aligned-buffer.ts';
import { DiskFileReader } from '../../functions/shared/disk/direct-reader.ts';
import { SparseFileWriter } from '../../functions/shared/disk/sparse-file.ts';
import { StagedWriter } from '../../functions/shared/disk/staged-writer.ts';

const KiB = 1024;

describe('O_DIRECT in SparseFileWriter', () => {
  let dir: string;
  let directSupported = false;
  // next to the repository, not in os.tmpdir(): tmpfs refuses O_DIRECT
  before(async () => {
    dir = await mkdtemp(join(import.meta.dirname, '..', '.direct-io-'));
    directSupported = await open(
      join(dir, 'probe'),
      constants.O_CREAT | constants.O_WRONLY | constants.O_DIRECT,
    )
      .then(async (fh) => (await fh.close(), true))
      .catch(() => false);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('only aligned memory, offsets and lengths are eligible', () => {
    const a = allocAligned(64 * KiB);
    assert.equal(directIoEligible(a, 0, 4096, 8192), true);
    assert.equal(directIoEligible(a, 512, 4096, 8192), false);
    assert.equal(directIoEligible(a, 0, 4000, 8192), false);
    assert.equal(directIoEligible(a, 0, 4096, 100), false);
    assert.equal(directIoEligible(Buffer.alloc(64 * KiB), 0, 4096, 0), false);
  });

  for (const directIo of [true, false]) {
    test(`staged writes with directIo=${directIo}: exact bytes, holes kept, odd tail`, async (t) => {
      if (directIo && !directSupported) return t.skip('this file system refuses O_DIRECT');
      const path = join(dir, `disk-${directIo}.raw`);
      const size = 5 * 1024 * KiB + 3 * 512 + 7; // not a multiple of a block or a sector
      const expected = Buffer.alloc(size);
      randomFillSync(expected, 0, 2 * 1024 * KiB); // 2 MiB of data
      randomFillSync(expected, 4 * 1024 * KiB + 64 * KiB); // and the unaligned end
      const writer = await SparseFileWriter.create(path, { directIo });
      await writer.setSize(size);
      const staged = new StagedWriter(writer);
      for (let pos = 0; pos < size; pos += 48 * KiB)
        await staged.put(expected.subarray(pos, Math.min(size, pos + 48 * KiB)), pos);
      await staged.finish();
      await writer.finish();
      assert.deepEqual(await readFile(path), expected);
      // read back through DiskFileReader: aligned pieces direct, the odd tail and offsets buffered
      const reader = await DiskFileReader.open(path, { directIo });
      const back = Buffer.alloc(size);
      for (const [from, to] of [
        [0, 3 * 1024 * KiB],
        [3 * 1024 * KiB, 3 * 1024 * KiB + 1000],
        [3 * 1024 * KiB + 1000, size],
      ] as const)
        assert.equal(await reader.read(back, from, to - from, from), to - from);
      assert.equal(await reader.read(Buffer.alloc(8192), 0, 8192, size - 7), 7, 'short read at the end');
      await reader.close();
      assert.deepEqual(back, expected);
      const allocated = (await stat(path)).blocks * 512;
      assert.ok(allocated < size - 1024 * KiB, `zeros stayed holes (${allocated} of ${size} allocated)`);
      if (directIo) {
        assert.ok(writer.directBytes >= 2 * 1024 * KiB, `${writer.directBytes} bytes went direct`);
        assert.ok(writer.directBytes < writer.allocatedBytes, 'the odd tail went through the page cache');
      } else assert.equal(writer.directBytes, 0);
    });
  }
});
