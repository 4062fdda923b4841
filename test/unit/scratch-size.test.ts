// The scratch volume size: from the disks, and for an OVA from the archive.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { scratchSizeForDisks, GIB, formatBytes } from '../../functions/shared/sources/scratch-size.ts';
import { scratchSizeForOva } from '../../functions/shared/sources/ova/scratch-size.ts';

describe('scratch size', () => {
  const sizing = { factor: 1.1, minGiB: 1 };
  test('allocated bytes x factor + min, rounded up to GiB', () => {
    const s = scratchSizeForDisks(
      [
        { sizeBytes: 100 * GIB, allocatedBytes: 10 * GIB },
        { sizeBytes: 20 * GIB, allocatedBytes: 0 },
      ],
      sizing,
    );
    assert.equal(s.basisBytes, 10 * GIB);
    assert.equal(s.gib, 12); // 11 + 1
    assert.match(s.basis, /allocated bytes of 2 disk/);
  });
  test('virtual size when the source cannot tell (or reports nonsense)', () => {
    const s = scratchSizeForDisks(
      [{ sizeBytes: 4 * GIB }, { sizeBytes: GIB, allocatedBytes: 2 * GIB }],
      sizing,
    );
    assert.equal(s.basisBytes, 5 * GIB);
    assert.equal(s.gib, Math.ceil(5 * 1.1 + 1));
    assert.match(s.basis, /virtual size/);
  });
  test('tiny VMs get the minimum; nothing gives at least 1 GiB', () => {
    assert.equal(scratchSizeForDisks([{ sizeBytes: 1024 * 1024, allocatedBytes: 1024 }], sizing).gib, 2);
    assert.equal(scratchSizeForDisks([], { factor: 1, minGiB: 0 }).gib, 1);
  });
  test('OVA: twice the Content-Length; without one the OVF disks', () => {
    const s = scratchSizeForOva(3 * GIB, undefined, sizing);
    assert.equal(s.basisBytes, 6 * GIB);
    assert.equal(s.gib, Math.ceil(6 * 1.1 + 1));
    const t = scratchSizeForOva(
      undefined,
      [{ sizeBytes: 8 * GIB, allocatedBytes: 2 * GIB, staged: false }],
      sizing,
    );
    assert.equal(t.basisBytes, 2 * GIB);
  });
  test('OVA: compressed or staged disks can need more than twice the archive', () => {
    // 1 GiB of gzip holding 3 GiB of a qcow2 disk's data: staged image + raw output = 6 GiB.
    const s = scratchSizeForOva(
      1 * GIB,
      [{ sizeBytes: 8 * GIB, allocatedBytes: 3 * GIB, staged: true }],
      sizing,
    );
    assert.equal(s.basisBytes, 6 * GIB);
    assert.match(s.basis, /populated size of 1 OVF disk\(s\), staged ones twice/);
    const t = scratchSizeForOva(
      4 * GIB,
      [{ sizeBytes: 8 * GIB, allocatedBytes: 3 * GIB, staged: false }],
      sizing,
    );
    assert.equal(t.basisBytes, 8 * GIB);
    assert.match(t.basis, /2 x the OVA's size/);
  });
  test('formatBytes', () => {
    assert.equal(formatBytes(5), '5 B');
    assert.equal(formatBytes(1.5 * GIB), '1.5 GiB');
  });
});
