// The streamOptimized VMDK decoder against streams that lie about sizes or place grains twice
// (issue 22 rows 5 and 11): refused early, with a specific reason, without buffering the stream.
import assert from 'node:assert/strict';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeStreamOptimizedVmdk } from '../../functions/shared/disk/vmdk-stream.ts';
import { DiskFormatError } from '../../functions/shared/disk/errors.ts';
import { tempDir } from './disk-helpers.ts';
import {
  MARKER,
  eosMarker,
  grainData,
  grainMarker,
  metadataMarker,
  validVmdk,
  vmdkPrologue,
} from '../support/hostile/vmdk.ts';

const MiB = 1024 * 1024;

/** `head`, then `tailBytes` of zeros in 1 MiB chunks; counts what the decoder pulled. */
function countingStream(head: Buffer, tailBytes: number) {
  const counter = { pulled: 0 };
  async function* gen() {
    counter.pulled += head.length;
    yield new Uint8Array(head);
    const chunk = new Uint8Array(MiB);
    for (let sent = 0; sent < tailBytes; sent += MiB) {
      counter.pulled += MiB;
      yield chunk;
    }
  }
  return { stream: gen(), counter };
}

const rejectsWith = (reason: string, message: RegExp) => (e: unknown) =>
  e instanceof DiskFormatError && e.reason === reason && message.test(e.message);

describe('streamOptimized VMDK decoder against hostile streams', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir('vmdk-hostile-')));
  after(() => cleanup());

  const gone = async (p: string) =>
    access(p).then(
      () => false,
      () => true,
    );

  for (const [what, marker] of [
    ['grain table', metadataMarker(MARKER.gt, 2_000_000)],
    ['footer', metadataMarker(MARKER.footer, 2_000_000)],
    ['grain directory', metadataMarker(MARKER.gd, 2n ** 40n)],
  ] as const) {
    test(`row 5: a ${what} marker claiming millions of sectors is refused before the stream is buffered`, async () => {
      const head = Buffer.concat([vmdkPrologue(), grainMarker(0, grainData(0)), marker]);
      const { stream, counter } = countingStream(head, 64 * MiB);
      const out = join(dir, `claims-${what}.raw`);
      await assert.rejects(
        decodeStreamOptimizedVmdk(stream, out),
        rejectsWith('CorruptVmdk', /marker .*claims \d+ sectors/),
      );
      assert.ok(counter.pulled < 4 * MiB, `pulled ${counter.pulled} bytes before refusing`);
      assert.ok(await gone(out));
    });
  }

  test('row 5: a header with 2^32-1 grain table entries per table is refused', async () => {
    const out = join(dir, 'gtes.raw');
    await assert.rejects(
      decodeStreamOptimizedVmdk([vmdkPrologue({ numGTEsPerGT: 0xffffffff })], out),
      rejectsWith('NotStreamOptimizedVmdk', /grain table entries/),
    );
  });

  test('row 5: a header claiming a capacity above the disk size cap is refused', async () => {
    const out = join(dir, 'capacity.raw');
    await assert.rejects(
      decodeStreamOptimizedVmdk([validVmdk(1, 2n ** 50n)], out),
      rejectsWith('NotStreamOptimizedVmdk', /capacity of .* is larger than the largest supported disk/),
    );
  });

  test('row 11: the same grain LBA twice is refused', async () => {
    const bytes = Buffer.concat([
      vmdkPrologue(),
      grainMarker(0, grainData(1)),
      grainMarker(0, grainData(2)),
      eosMarker(),
    ]);
    const out = join(dir, 'repeat.raw');
    await assert.rejects(
      decodeStreamOptimizedVmdk([bytes], out),
      rejectsWith('CorruptVmdk', /grain at LBA 0 .*(twice|increasing)/),
    );
    assert.ok(await gone(out));
  });

  test('row 11: overlapping grains (an LBA off the grain boundary) are refused', async () => {
    const bytes = Buffer.concat([
      vmdkPrologue(),
      grainMarker(0, grainData(1)),
      grainMarker(64, grainData(2)),
      eosMarker(),
    ]);
    const out = join(dir, 'overlap.raw');
    await assert.rejects(
      decodeStreamOptimizedVmdk([bytes], out),
      rejectsWith('CorruptVmdk', /LBA 64 .*not at a grain boundary/),
    );
    assert.ok(await gone(out));
  });

  test('row 11: a grain before an earlier one (out of order, overlapping what was written) is refused', async () => {
    const bytes = Buffer.concat([
      vmdkPrologue(),
      grainMarker(256, grainData(1)),
      grainMarker(0, grainData(2)),
      grainMarker(256, grainData(3)),
      eosMarker(),
    ]);
    const out = join(dir, 'order.raw');
    await assert.rejects(decodeStreamOptimizedVmdk([bytes], out), rejectsWith('CorruptVmdk', /LBA 0/));
  });

  test('a valid small stream still decodes', async () => {
    const out = join(dir, 'valid.raw');
    const r = await decodeStreamOptimizedVmdk([validVmdk(3)], out);
    assert.equal(r.virtualSizeBytes, 2048 * 512);
    assert.equal(r.allocatedBytes, 3 * 128 * 512);
  });
});
