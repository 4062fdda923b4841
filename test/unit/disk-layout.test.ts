import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alignExtents, mapLooksAccurate, parseQemuImgMap } from '../../functions/shared/disk/extents.ts';
import {
  qcow2Layout,
  qcow2MetadataCluster,
  runAtHostCluster,
} from '../../functions/shared/disk/qcow2-layout.ts';
import { parseRange } from '../../functions/shared/disk/serve.ts';
import { parseSparseExtentHeader } from '../../functions/shared/disk/vmdk-format.ts';
import { nonZeroRuns } from '../../functions/shared/disk/zero.ts';

const K64 = 65536;
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

test('qcow2Layout: empty disk is header, L1, refcount table and block only', () => {
  const l = qcow2Layout(2 * MiB, []);
  assert.deepEqual(
    [
      l.l1Entries,
      l.l1Offset,
      l.refcountTableOffset,
      l.refcountBlocksOffset,
      l.l2Offset,
      l.dataOffset,
      l.totalLength,
    ],
    [1, K64, 2 * K64, 3 * K64, 4 * K64, 4 * K64, 4 * K64],
  );
  assert.equal(l.dataClusters, 0);
});

test('qcow2Layout: extents become runs in guest order, one L2 table per touched 512 MiB', () => {
  const l = qcow2Layout(1200 * MiB, [
    { offset: 700 * MiB, length: 3 * K64 },
    { offset: 0, length: 100 }, // unaligned: widened to one cluster
    { offset: 1200 * MiB - K64, length: K64 },
  ]);
  assert.equal(l.l1Entries, 3);
  assert.deepEqual(l.l2Tables, [0, 1, 2]);
  assert.equal(l.dataClusters, 5);
  assert.equal(l.dataOffset, (1 + 1 + 1 + 1 + 3) * K64);
  assert.deepEqual(
    l.runs.map((r) => [r.guestCluster, r.count]),
    [
      [0, 1],
      [(700 * MiB) / K64, 3],
      [(1200 * MiB) / K64 - 1, 1],
    ],
  );
  assert.equal(l.totalLength, l.dataOffset + 5 * K64);
  assert.equal(runAtHostCluster(l, l.dataOffset / K64 + 2).guestCluster, (700 * MiB) / K64);
  assert.throws(() => runAtHostCluster(l, l.totalClusters), RangeError);
});

test('qcow2Layout: refcount blocks grow to cover every cluster (> 2 GiB of data)', () => {
  const l = qcow2Layout(4 * GiB, [{ offset: 0, length: 3 * GiB }]);
  assert.equal(l.dataClusters, (3 * GiB) / K64);
  assert.equal(l.refcountBlocks, Math.ceil(l.totalClusters / 32768));
  assert.ok(l.refcountBlocks * 32768 >= l.totalClusters);
  assert.equal(l.l2Tables.length, 6);
});

test('qcow2Layout: virtual size rounds up to a sector, like qemu for raw files', () => {
  assert.equal(qcow2Layout(MiB + 1, []).virtualSize, MiB + 512);
  assert.throws(() => qcow2Layout(0, []), RangeError);
});

test('qcow2 metadata clusters: header fields, L1/L2 entries with COPIED, refcounts', () => {
  const l = qcow2Layout(MiB, [{ offset: K64, length: K64 }]);
  const h = qcow2MetadataCluster(l, 0);
  assert.equal(h.readUInt32BE(0), 0x514649fb);
  assert.equal(h.readUInt32BE(4), 3);
  assert.equal(h.readUInt32BE(20), 16);
  assert.equal(h.readBigUInt64BE(24), BigInt(MiB));
  assert.equal(h.readUInt32BE(96), 4);
  assert.equal(h.readUInt32BE(100), 104);
  const l1 = qcow2MetadataCluster(l, 1);
  assert.equal(l1.readBigUInt64BE(0), BigInt(l.l2Offset) | (1n << 63n));
  const rt = qcow2MetadataCluster(l, l.refcountTableOffset / K64);
  assert.equal(rt.readBigUInt64BE(0), BigInt(l.refcountBlocksOffset));
  const rb = qcow2MetadataCluster(l, l.refcountBlocksOffset / K64);
  assert.equal(rb.readUInt16BE((l.totalClusters - 1) * 2), 1);
  assert.equal(rb.readUInt16BE(l.totalClusters * 2), 0);
  const l2 = qcow2MetadataCluster(l, l.l2Offset / K64);
  assert.equal(l2.readBigUInt64BE(0), 0n);
  assert.equal(l2.readBigUInt64BE(8), BigInt(l.dataOffset) | (1n << 63n));
  assert.throws(() => qcow2MetadataCluster(l, l.dataOffset / K64), RangeError);
});

test('alignExtents widens to 64 KiB, merges and clamps to the file end', () => {
  assert.deepEqual(
    alignExtents(
      [
        { offset: 70_000, length: 10 },
        { offset: 4096, length: 4096 },
        { offset: 131_072, length: 1 },
        { offset: 1_000_000, length: 5 },
      ],
      1_000_003,
    ),
    [
      { offset: 0, length: 3 * K64 },
      { offset: 983_040, length: 1_000_003 - 983_040 },
    ],
  );
});

test('qemu-img map output parsing and the accuracy check', () => {
  const json =
    '[{ "start": 0, "length": 4096, "depth": 0, "present": true, "zero": false, "data": true, "offset": 0},\n' +
    '{ "start": 4096, "length": 8192, "depth": 0, "present": true, "zero": true, "data": false, "offset": 4096}]';
  assert.deepEqual(parseQemuImgMap(json), [{ offset: 0, length: 4096 }]);
  assert.equal(mapLooksAccurate([{ offset: 0, length: 4096 }], 12288, 4096), true);
  assert.equal(mapLooksAccurate([{ offset: 0, length: 10 * MiB }], 10 * MiB, 4096), false, 'holes not seen');
  assert.equal(
    mapLooksAccurate([{ offset: 0, length: 10 * MiB }], 10 * MiB, 10 * MiB),
    true,
    'fully allocated',
  );
});

test('parseRange: single ranges, suffixes, open ends, unsatisfiable and ignored forms', () => {
  assert.deepEqual(parseRange('bytes=0-9', 100), { start: 0, end: 9 });
  assert.deepEqual(parseRange('bytes=90-', 100), { start: 90, end: 99 });
  assert.deepEqual(parseRange('bytes=90-500', 100), { start: 90, end: 99 });
  assert.deepEqual(parseRange('bytes=-10', 100), { start: 90, end: 99 });
  assert.deepEqual(parseRange('bytes=-1000', 100), { start: 0, end: 99 });
  assert.equal(parseRange('bytes=100-', 100), 'unsatisfiable');
  assert.equal(parseRange('bytes=-0', 100), 'unsatisfiable');
  assert.equal(parseRange('bytes=0-1,5-6', 100), undefined);
  assert.equal(parseRange('bytes=9-1', 100), undefined);
  assert.equal(parseRange('items=0-1', 100), undefined);
});

test('nonZeroRuns splits at absolute 64 KiB boundaries and skips zero blocks', () => {
  const buf = Buffer.alloc(4 * K64);
  buf[10] = 1; // block 0 (buffer starts 1000 bytes into a block)
  buf[K64 * 2] = 1; // block 2
  buf[K64 * 2 + K64 - 1000] = 1; // block 3
  assert.deepEqual(nonZeroRuns(buf, 1000), [
    { offset: 0, length: K64 - 1000 },
    { offset: 2 * K64 - 1000, length: 2 * K64 },
  ]);
  assert.deepEqual(nonZeroRuns(Buffer.alloc(K64), 0), []);
});

test('parseSparseExtentHeader accepts streamOptimized and explains what else it sees', () => {
  const h = Buffer.alloc(512);
  h.write('KDMV', 0, 'latin1');
  h.writeUInt32LE(3, 4);
  h.writeUInt32LE(0x30003, 8);
  h.writeBigUInt64LE(2048n, 12);
  h.writeBigUInt64LE(128n, 20);
  h.writeBigUInt64LE(1n, 28);
  h.writeBigUInt64LE(20n, 36);
  h.writeUInt32LE(512, 44);
  h.writeBigUInt64LE(0xffffffffffffffffn, 56);
  h.writeBigUInt64LE(128n, 64);
  h.writeUInt16LE(1, 77);
  const parsed = parseSparseExtentHeader(h);
  assert.equal(parsed.capacitySectors, 2048);
  assert.equal(parsed.gdOffset, undefined);

  const hosted = Buffer.from(h);
  hosted.writeUInt32LE(0x3, 8);
  assert.throws(() => parseSparseExtentHeader(hosted), /not a streamOptimized VMDK: .*monolithicSparse/);
  const badGrain = Buffer.from(h);
  badGrain.writeBigUInt64LE(100n, 20);
  assert.throws(() => parseSparseExtentHeader(badGrain), /invalid grain size/);
  const qcow = Buffer.alloc(512);
  qcow.writeUInt32BE(0x514649fb, 0);
  assert.throws(() => parseSparseExtentHeader(qcow), /input is a qcow2 image/);
});
