// Property-based fuzzing (fast-check) of the three parsers that read bytes straight from a
// source: the streamOptimized VMDK decoder, the OVF parser and the OVA (tar) reader. Each input is
// a valid document mutated (bytes flipped, cut, spliced, fields set to extreme values) or built
// from random fields. The property: the code either succeeds with a result that keeps its
// invariants, or fails with a SourceError/DiskFormatError of a known reason; never another error,
// never a file left behind on failure. `npm test` runs a few hundred inputs; `npm run fuzz` sets
// FUZZ_RUNS (and FUZZ_SEED) for a long run and prints the counts.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { DiskFormatError } from '../../functions/shared/disk/errors.ts';
import { decodeStreamOptimizedVmdk } from '../../functions/shared/disk/vmdk-stream.ts';
import { MAX_DISK_BYTES, MAX_DISKS_PER_VM, MAX_NICS_PER_VM } from '../../functions/shared/limits.ts';
import { exportOva } from '../../functions/shared/sources/ova/export.ts';
import { parseOvfDescriptor } from '../../functions/shared/sources/ova/ovf-descriptor.ts';
import { SourceError } from '../../functions/shared/sources/source-error.ts';
import { buildTar, hostileOvf, startBufferServer, type BufferServer } from '../support/hostile/ova.ts';
import {
  MARKER,
  eosMarker,
  grainData,
  grainMarker,
  metadataMarker,
  validVmdk,
  vmdkHeader,
  vmdkPrologue,
} from '../support/hostile/vmdk.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 0);
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
const runs = (short: number) => (RUNS > 0 ? RUNS : short);
const params = (short: number) => ({ numRuns: runs(short), ...(SEED !== undefined ? { seed: SEED } : {}) });

const DISK_REASONS = new Set([
  'NotStreamOptimizedVmdk',
  'CorruptVmdk',
  'TruncatedDiskStream',
  'DiskSizeMismatch',
  'DiskTooLarge',
]);
const OVF_REASONS = new Set(['InvalidOvf', 'UnsupportedOva']);
const OVA_REASONS = new Set([
  ...DISK_REASONS,
  ...OVF_REASONS,
  'InvalidOva',
  'DiskFileMissing',
  'ManifestIncomplete',
  'ChecksumMismatch',
  'UnsupportedDiskFormat',
]);

/** Counts per outcome, printed after a run: what the fuzzer reached. */
const tallies = new Map<string, Map<string, number>>();
function tally(target: string, outcome: string): void {
  const t = tallies.get(target) ?? new Map<string, number>();
  t.set(outcome, (t.get(outcome) ?? 0) + 1);
  tallies.set(target, t);
}

// ---- mutations ---------------------------------------------------------------------------------

type Mutation =
  | { op: 'flip'; at: number; value: number }
  | { op: 'cut'; at: number }
  | { op: 'splice'; at: number; bytes: Uint8Array }
  | { op: 'u64'; at: number; value: bigint };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('splice' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 64 }) }),
  fc.record({
    op: fc.constant('u64' as const),
    at: fc.nat(),
    value: fc.oneof(
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      fc.constantFrom(0n, 1n, 2n ** 32n - 1n, 2n ** 63n, 2n ** 64n - 1n),
    ),
  }),
);

function mutate(input: Buffer, ms: Mutation[]): Buffer {
  let b = Buffer.from(input);
  for (const m of ms) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    if (m.op === 'flip') b[at] = m.value;
    else if (m.op === 'cut') b = b.subarray(0, at);
    else if (m.op === 'splice') b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
    else if (at + 8 <= b.length) b.writeBigUInt64LE(m.value, at);
  }
  return b;
}

// ---- VMDK --------------------------------------------------------------------------------------

const vmdkInput: fc.Arbitrary<Buffer> = fc.oneof(
  // A valid stream, mutated (mutations aimed at the header, markers and grains alike).
  fc
    .tuple(fc.integer({ min: 0, max: 4 }), fc.array(mutation, { minLength: 1, maxLength: 6 }))
    .map(([grains, ms]) => mutate(validVmdk(grains), ms)),
  // Random header fields, then random markers.
  fc
    .tuple(
      fc.record({
        capacitySectors: fc.bigInt({ min: 0n, max: 2n ** 40n }),
        grainSectors: fc.constantFrom(0n, 1n, 8n, 128n, 2048n, 4096n),
        numGTEsPerGT: fc.constantFrom(0, 1, 512, 4096, 5000),
        gdOffset: fc.constantFrom(0n, 2n, 0xffffffffffffffffn),
        descriptorSectors: fc.constantFrom(0n, 1n, 20n),
      }),
      fc.array(
        fc.oneof(
          fc
            .record({ lba: fc.integer({ min: 0, max: 4096 }), seed: fc.nat(100) })
            .map(({ lba, seed }) => grainMarker(lba, grainData(seed))),
          fc
            .constantFrom(MARKER.gt, MARKER.gd, MARKER.footer, 9)
            .chain((type) =>
              fc
                .integer({ min: 0, max: 8 })
                .map((sectors) => metadataMarker(type, sectors, Buffer.alloc(sectors * 512))),
            ),
          fc.constant(eosMarker()),
        ),
        { maxLength: 8 },
      ),
    )
    .map(([h, markers]) => {
      const prologue = h.capacitySectors < 2n ** 20n ? vmdkPrologue(h) : vmdkHeader(h);
      return Buffer.concat([prologue, ...markers]);
    }),
);

// ---- OVF ---------------------------------------------------------------------------------------

const capacityText = fc.oneof(
  fc.bigInt({ min: 0n, max: 2n ** 70n }).map(String),
  fc.constantFrom('0x10', '1e300', '-1', '', ' 12 ', '1.5', 'NaN', '٣'),
  fc.string({ maxLength: 8 }),
);
const unitsText = fc.option(
  fc.oneof(
    fc.constantFrom(
      'byte',
      'byte * 2^20',
      'byte * 2^-3',
      'byte * 2^1000',
      'byte*1024*1024',
      'MB',
      'hertz',
      'byte * 0',
    ),
    fc.string({ maxLength: 12 }),
  ),
  { nil: undefined },
);
const xmlFragment = fc.oneof(
  fc.constantFrom(
    '<a>',
    '</a>',
    '<a/>',
    '<!DOCTYPE x>',
    '&amp;',
    '&#0;',
    '<![CDATA[<x>]]>',
    '<!-- c -->',
    '"',
    "'",
    '<',
  ),
  fc.string({ maxLength: 16 }),
);

const ovfInput: fc.Arbitrary<string> = fc.oneof(
  fc
    .record({
      disks: fc.array(
        fc.record({
          capacity: capacityText,
          units: unitsText,
          fileRef: fc.constantFrom('file1', 'file2', '', 'nope'),
        }),
        { maxLength: 4 },
      ),
      nics: fc.integer({ min: 0, max: 70 }),
      memory: capacityText,
    })
    .map(({ disks, nics, memory }) =>
      hostileOvf({
        files: [
          { id: 'file1', href: 'disk1.vmdk' },
          { id: 'file2', href: 'sub/disk1.vmdk' },
        ],
        disks: disks.map((d) => ({
          capacity: d.capacity,
          fileRef: d.fileRef,
          ...(d.units !== undefined ? { units: d.units } : {}),
        })),
        nics,
        memory,
      }),
    ),
  fc.tuple(fc.array(fc.tuple(fc.nat(), xmlFragment), { minLength: 1, maxLength: 6 })).map(([inserts]) => {
    let s = hostileOvf();
    for (const [at, frag] of inserts) {
      const i = at % s.length;
      s = s.slice(0, i) + frag + s.slice(i);
    }
    return s;
  }),
);

function checkDescriptor(d: ReturnType<typeof parseOvfDescriptor>): void {
  assert.ok(d.disks.length <= MAX_DISKS_PER_VM);
  assert.ok(d.vm.nics.length <= MAX_NICS_PER_VM);
  const files = new Set<string>();
  for (const disk of d.disks) {
    assert.ok(
      Number.isSafeInteger(disk.capacityBytes) && disk.capacityBytes >= 0,
      `capacity ${disk.capacityBytes}`,
    );
    assert.ok(disk.capacityBytes <= MAX_DISK_BYTES);
    if (disk.file) {
      const name = disk.file.href.split('/').pop()!;
      assert.ok(!files.has(name), 'one disk per file');
      files.add(name);
    }
  }
  assert.ok(Number.isSafeInteger(d.vm.memoryMiB) && d.vm.memoryMiB > 0, `memory ${d.vm.memoryMiB}`);
}

// ---- tar ---------------------------------------------------------------------------------------

let baseOva: Buffer;
const ovaInput = fc.array(mutation, { minLength: 1, maxLength: 4 }).map((ms) => mutate(baseOva, ms));

describe('fuzzing', () => {
  let work: string;
  let server: BufferServer;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'fuzz-'));
    server = await startBufferServer();
    baseOva = await buildTar([
      { name: 'vm.ovf', data: hostileOvf() },
      { name: 'disk1.vmdk', data: validVmdk(2) },
    ]);
  });
  after(async () => {
    await server.close();
    await rm(work, { recursive: true, force: true });
    for (const [target, t] of tallies)
      console.log(
        `fuzz ${target}: ${[...t.values()].reduce((a, b) => a + b, 0)} inputs; ${[...t].map(([k, v]) => `${k} ${v}`).join(', ')}`,
      );
  });

  test(
    'VMDK decoder: decodes or fails with a disk reason; no file left on failure',
    { timeout: Infinity },
    async () => {
      let n = 0;
      await fc.assert(
        fc.asyncProperty(vmdkInput, async (input) => {
          const out = join(work, `vmdk-${n++}.raw`);
          try {
            const r = await decodeStreamOptimizedVmdk([input], out);
            assert.equal((await stat(out)).size, r.virtualSizeBytes);
            assert.ok(r.allocatedBytes <= r.virtualSizeBytes);
            tally('vmdk', 'decoded');
            await rm(out);
          } catch (e) {
            if (!(e instanceof DiskFormatError) || !DISK_REASONS.has(e.reason)) throw e;
            tally('vmdk', e.reason);
            assert.deepEqual(await readdir(work).then((f) => f.filter((x) => x.startsWith('vmdk-'))), []);
          }
        }),
        params(300),
      );
    },
  );

  test(
    'OVF parser: a descriptor that keeps the caps, or InvalidOvf/UnsupportedOva',
    { timeout: Infinity },
    async () => {
      await fc.assert(
        fc.property(ovfInput, (xml) => {
          try {
            checkDescriptor(parseOvfDescriptor(xml));
            tally('ovf', 'parsed');
          } catch (e) {
            if (!(e instanceof SourceError) || !OVF_REASONS.has(e.reason)) throw e;
            tally('ovf', e.reason);
          }
        }),
        params(500),
      );
    },
  );

  test(
    'OVA (tar) reader: disks in scratch, or a known reason and an empty scratch',
    { timeout: Infinity },
    async () => {
      let n = 0;
      await fc.assert(
        fc.asyncProperty(ovaInput, async (ova) => {
          const name = `fuzz-${n++}.ova`;
          server.put(name, ova);
          const scratchDir = await mkdtemp(join(work, 'ova-'));
          try {
            const r = await exportOva({ url: server.url(name), httpTimeoutSeconds: 30 }, undefined, {
              scratchDir,
            });
            for (const d of r.disks) assert.equal((await stat(d.path)).size, d.sizeBytes);
            tally('ova', 'exported');
          } catch (e) {
            if (!(e instanceof SourceError) || !OVA_REASONS.has(e.reason)) throw e;
            tally('ova', e.reason);
            assert.deepEqual(await readdir(scratchDir), []);
          } finally {
            await rm(scratchDir, { recursive: true, force: true });
          }
        }),
        params(60),
      );
    },
  );
});
