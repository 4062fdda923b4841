import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { OffThreadHash } from '../../functions/shared/disk/off-thread-hash.ts';
import { writeSparseRaw } from '../../functions/shared/disk/sparse-raw.ts';

test('the worker digest equals crypto’s over the same pieces, in call order', async () => {
  for (const algo of ['md5', 'sha512']) {
    const reference = createHash(algo);
    const hash = new OffThreadHash(algo);
    // Overlapping calls (hashed in call order), pieces larger than a slot, views into larger buffers.
    const pieces = Array.from({ length: 40 }, (_, i) =>
      randomBytes(i % 3 === 0 ? 2_500_000 : 100_000).subarray(i % 7),
    );
    for (const p of pieces) reference.update(p);
    await Promise.all(pieces.map((p) => hash.update(p)));
    // The caller's buffer is free once its update resolved.
    const reused = Buffer.alloc(1 << 20);
    for (let i = 0; i < 20; i++) {
      randomBytes(reused.length).copy(reused);
      reference.update(reused);
      await hash.update(reused);
    }
    assert.equal(await hash.digest(), reference.digest('hex'), algo);
  }
});

test('an unknown algorithm fails at once; a closed hash refuses updates', async () => {
  assert.throws(() => new OffThreadHash('no-such-hash'), /Digest method not supported|Invalid digest/);
  const hash = new OffThreadHash('md5');
  await hash.close();
  await assert.rejects(hash.update(Buffer.from('x')), /closed/);
});

test('writeSparseRaw feeds the off-thread hash every byte, in order', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'off-thread-hash-'));
  try {
    const data = Buffer.concat([randomBytes(3 << 20), Buffer.alloc(2 << 20), randomBytes(777_777)]);
    const hash = new OffThreadHash('sha512');
    const chunks = Array.from({ length: Math.ceil(data.length / 16384) }, (_, i) =>
      data.subarray(i * 16384, (i + 1) * 16384),
    );
    await writeSparseRaw(Readable.from(chunks), join(dir, 'out.raw'), { sizeBytes: data.length, hash });
    assert.equal(await hash.digest(), createHash('sha512').update(data).digest('hex'));
    assert.ok((await readFile(join(dir, 'out.raw'))).equals(data));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
