// Hostile streamOptimized VMDKs (for the decoder) and hostile images a cloud may hand over for
// qemu-img conversion (qcow2, VMDK descriptors, VHDX, unknown formats).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { execa } from 'execa';
import { decodeStreamOptimizedVmdk } from '../../functions/shared/disk/vmdk-stream.ts';
import { convertForeignImage, qemuFormatForGlance } from '../../functions/shared/disk/foreign-image.ts';
import type { ForeignFormat } from '../../functions/shared/disk/foreign-image.ts';
import {
  MARKER,
  S,
  eosMarker,
  grainData,
  grainMarker,
  metadataMarker,
  validVmdk,
  vmdkHeader,
  vmdkPrologue,
  type HeaderFields,
} from '../support/hostile/vmdk.ts';
import type { HostileCase } from './case.ts';

const MiB = 1024 * 1024;

/** `head`, then `tail` bytes of zeros, in 1 MiB chunks (generated, never held). */
async function* withTail(head: Buffer, tail: number): AsyncGenerator<Uint8Array> {
  yield new Uint8Array(head);
  const zeros = new Uint8Array(MiB);
  for (let sent = 0; sent < tail; sent += MiB) yield zeros;
}

function vmdkCase(
  name: string,
  expect: string,
  input: () => Buffer | AsyncIterable<Uint8Array>,
): HostileCase {
  return {
    kind: 'vmdk',
    name,
    expect,
    run: (s) => {
      const bytes = input();
      // A Buffer is an iterable of numbers, not of chunks: hand it over as one chunk.
      return decodeStreamOptimizedVmdk(
        Buffer.isBuffer(bytes) ? [bytes] : bytes,
        join(s.scratch, 'disk-0.raw'),
      );
    },
  };
}

const header = (f: HeaderFields) => vmdkPrologue(f);
const oneGrain = (f: HeaderFields = {}) => Buffer.concat([vmdkPrologue(f), grainMarker(0, grainData(0))]);
const TAIL = 256 * MiB;

export const vmdkCases: HostileCase[] = [
  vmdkCase('empty input', 'NotStreamOptimizedVmdk', () => Buffer.alloc(0)),
  vmdkCase('random bytes', 'NotStreamOptimizedVmdk', () => grainData(7, 4096)),
  vmdkCase('a text descriptor instead of a sparse extent', 'NotStreamOptimizedVmdk', () =>
    Buffer.from('# Disk DescriptorFile\nversion=1\ncreateType="monolithicFlat"\nRW 8 FLAT "/etc/passwd" 0\n'),
  ),
  vmdkCase('a qcow2 image', 'NotStreamOptimizedVmdk', () =>
    Buffer.concat([Buffer.from([0x51, 0x46, 0x49, 0xfb]), Buffer.alloc(508)]),
  ),
  vmdkCase('sparse extent version 9', 'NotStreamOptimizedVmdk', () => header({ version: 9 })),
  vmdkCase('flags without compressed grains (monolithicSparse)', 'NotStreamOptimizedVmdk', () =>
    header({ flags: 3 }),
  ),
  vmdkCase('compression algorithm 2', 'NotStreamOptimizedVmdk', () => header({ compressAlgorithm: 2 })),
  vmdkCase('grain size of 7 sectors', 'NotStreamOptimizedVmdk', () => header({ grainSectors: 7n })),
  vmdkCase('grain size of 2^40 sectors', 'NotStreamOptimizedVmdk', () => header({ grainSectors: 2n ** 40n })),
  vmdkCase('capacity 0', 'NotStreamOptimizedVmdk', () => header({ capacitySectors: 0n })),
  vmdkCase('capacity 2^60 sectors', 'NotStreamOptimizedVmdk', () => header({ capacitySectors: 2n ** 60n })),
  vmdkCase('capacity 2^64-1 sectors', 'NotStreamOptimizedVmdk', () =>
    header({ capacitySectors: 2n ** 64n - 1n }),
  ),
  vmdkCase('0 grain table entries per table', 'NotStreamOptimizedVmdk', () => header({ numGTEsPerGT: 0 })),
  vmdkCase('2^32-1 grain table entries per table', 'NotStreamOptimizedVmdk', () =>
    header({ numGTEsPerGT: 0xffffffff }),
  ),
  vmdkCase('embedded descriptor beyond the metadata area', 'NotStreamOptimizedVmdk', () =>
    Buffer.concat([vmdkHeader({ descriptorOffset: 100n, descriptorSectors: 100n }), Buffer.alloc(127 * S)]),
  ),
  vmdkCase('embedded descriptor of 1 GiB', 'NotStreamOptimizedVmdk', () =>
    Buffer.concat([
      vmdkHeader({ descriptorSectors: 2n ** 21n, overheadSectors: 2n ** 22n }),
      Buffer.alloc(S),
    ]),
  ),
  vmdkCase('grain table marker claiming 2 000 000 sectors, 256 MiB follow', 'CorruptVmdk', () =>
    withTail(Buffer.concat([oneGrain(), metadataMarker(MARKER.gt, 2_000_000)]), TAIL),
  ),
  vmdkCase('footer marker claiming 2 000 000 sectors, 256 MiB follow', 'CorruptVmdk', () =>
    withTail(Buffer.concat([oneGrain(), metadataMarker(MARKER.footer, 2_000_000)]), TAIL),
  ),
  vmdkCase('grain directory marker claiming 2^40 sectors, 256 MiB follow', 'CorruptVmdk', () =>
    withTail(Buffer.concat([oneGrain(), metadataMarker(MARKER.gd, 2n ** 40n)]), TAIL),
  ),
  vmdkCase('grain directory in the header of 4 GiB (1 entry per table, 64 TiB)', 'CorruptVmdk', () =>
    withTail(
      vmdkHeader({ capacitySectors: 2n ** 37n, numGTEsPerGT: 1, gdOffset: 2n, overheadSectors: 2n ** 24n }),
      TAIL,
    ),
  ),
  vmdkCase('grain LBA beyond the capacity', 'CorruptVmdk', () =>
    Buffer.concat([vmdkPrologue(), grainMarker(1_000_000, grainData(0)), eosMarker()]),
  ),
  vmdkCase('grain LBA off the grain boundary (overlapping)', 'CorruptVmdk', () =>
    Buffer.concat([vmdkPrologue(), grainMarker(0, grainData(0)), grainMarker(64, grainData(1)), eosMarker()]),
  ),
  vmdkCase('the same grain LBA twice', 'CorruptVmdk', () =>
    Buffer.concat([
      vmdkPrologue(),
      grainMarker(128, grainData(0)),
      grainMarker(128, grainData(1)),
      eosMarker(),
    ]),
  ),
  vmdkCase('grain LBA 2^63', 'CorruptVmdk', () =>
    Buffer.concat([vmdkPrologue(), grainMarker(2n ** 63n, grainData(0))]),
  ),
  vmdkCase('grain claiming 2^31 compressed bytes', 'CorruptVmdk', () => {
    const m = Buffer.alloc(S);
    m.writeBigUInt64LE(0n, 0);
    m.writeUInt32LE(2 ** 31, 8);
    return Buffer.concat([vmdkPrologue(), m]);
  }),
  vmdkCase('deflate bomb: a grain inflating to 64 MiB', 'CorruptVmdk', () =>
    Buffer.concat([
      vmdkPrologue(),
      grainMarker(0, Buffer.alloc(0), deflateSync(Buffer.alloc(64 * MiB)).subarray(0, 120_000)),
    ]),
  ),
  vmdkCase('grain data that is not deflate', 'CorruptVmdk', () =>
    Buffer.concat([vmdkPrologue(), grainMarker(0, Buffer.alloc(0), grainData(3, 2000)), eosMarker()]),
  ),
  vmdkCase('unknown metadata marker type 7', 'CorruptVmdk', () =>
    Buffer.concat([oneGrain(), metadataMarker(7, 0)]),
  ),
  vmdkCase('footer with a bad magic', 'CorruptVmdk', () =>
    Buffer.concat([oneGrain(), metadataMarker(MARKER.footer, 1, Buffer.alloc(S)), eosMarker()]),
  ),
  vmdkCase('stream cut inside a grain', 'TruncatedDiskStream', () =>
    validVmdk(2).subarray(0, 128 * S + 2000),
  ),
  vmdkCase('no end-of-stream marker and no grain tables', 'TruncatedDiskStream', () => oneGrain()),
  vmdkCase(
    'metadata area of 2^40 sectors (the rest of a 256 MiB stream is skipped)',
    'TruncatedDiskStream',
    () => withTail(vmdkHeader({ overheadSectors: 2n ** 40n }), TAIL),
  ),
];

// ---- images for qemu-img ------------------------------------------------------------------------

function imageCase(
  name: string,
  expect: string,
  format: ForeignFormat | string,
  make: (path: string, dir: string) => Promise<void>,
): HostileCase {
  return {
    kind: 'qcow2',
    name,
    expect,
    // The downloaded image is a fixture; the conversion must add nothing but disk-0.raw to scratch.
    prepare: (s) => make(join(s.scratch, 'disk-0.raw.download.part'), s.outside),
    run: (s) =>
      convertForeignImage(
        join(s.scratch, 'disk-0.raw.download.part'),
        qemuFormatForGlance(format),
        join(s.scratch, 'disk-0.raw'),
        'the image',
      ),
  };
}

const qemuImg = async (...args: string[]) => void (await execa('qemu-img', args));
const secret = async (dir: string) => {
  const p = join(dir, 'secret.txt');
  await writeFile(p, 'TOP SECRET\n'.repeat(100));
  return p;
};

export const imageCases: HostileCase[] = [
  imageCase('qcow2 with a local backing file', 'UnsafeDiskImage', 'qcow2', async (p, d) =>
    qemuImg('create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', await secret(d), p, '1M'),
  ),
  imageCase('qcow2 with a json: nbd backing spec', 'UnsafeDiskImage', 'qcow2', (p) =>
    qemuImg(
      'create',
      '-q',
      '-f',
      'qcow2',
      '-u',
      '-F',
      'raw',
      '-b',
      'json:{"driver":"nbd","host":"127.0.0.1","port":"1"}',
      p,
      '1M',
    ),
  ),
  imageCase('qcow2 with a json: file backing spec', 'UnsafeDiskImage', 'qcow2', async (p, d) =>
    qemuImg(
      'create',
      '-q',
      '-f',
      'qcow2',
      '-u',
      '-F',
      'raw',
      '-b',
      `json:{"driver":"file","filename":"${await secret(d)}"}`,
      p,
      '1M',
    ),
  ),
  imageCase('qcow2 with an http backing file', 'UnsafeDiskImage', 'qcow2', (p) =>
    qemuImg(
      'create',
      '-q',
      '-f',
      'qcow2',
      '-u',
      '-F',
      'raw',
      '-b',
      'http://169.254.169.254/latest/meta-data',
      p,
      '1M',
    ),
  ),
  imageCase('qcow2 with an external data file', 'UnsafeDiskImage', 'qcow2', async (p, d) =>
    qemuImg('create', '-q', '-f', 'qcow2', '-o', `data_file=${join(d, 'data.raw')}`, p, '1M'),
  ),
  imageCase('qcow2 header with the data-file bit but no extension', 'UnsafeDiskImage', 'qcow2', async (p) => {
    await qemuImg('create', '-q', '-f', 'qcow2', p, '1M');
    const { open } = await import('node:fs/promises');
    const f = await open(p, 'r+');
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(4n);
    await f.write(b, 0, 8, 72);
    await f.close();
  }),
  imageCase('raw bytes declared as qcow2', 'UnsafeDiskImage', 'qcow2', (p) =>
    writeFile(p, Buffer.alloc(MiB, 7)),
  ),
  imageCase('a 50-byte qcow2 header', 'UnsafeDiskImage', 'qcow2', (p) =>
    writeFile(p, Buffer.concat([Buffer.from([0x51, 0x46, 0x49, 0xfb]), Buffer.alloc(46)])),
  ),
  imageCase('qcow2 of 1 EiB virtual size', 'UnsafeDiskImage', 'qcow2', (p) =>
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=2M', p, '1E'),
  ),
  imageCase('qcow2 whose L1 table offset is not cluster-aligned', 'CorruptDiskImage', 'qcow2', async (p) => {
    await qemuImg('create', '-q', '-f', 'qcow2', p, '1M');
    const { open } = await import('node:fs/promises');
    const f = await open(p, 'r+');
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(12345n);
    await f.write(b, 0, 8, 40); // l1_table_offset
    await f.close();
  }),
  imageCase('VMDK descriptor naming a local file as extent', 'UnsafeDiskImage', 'vmdk', async (p, d) =>
    writeFile(
      p,
      `# Disk DescriptorFile\nversion=1\ncreateType="monolithicFlat"\nRW 2 FLAT "${await secret(d)}" 0\n`,
    ),
  ),
  imageCase('VMDK descriptor with a json: nbd extent', 'UnsafeDiskImage', 'vmdk', (p) =>
    writeFile(
      p,
      '# Disk DescriptorFile\nversion=1\ncreateType="monolithicFlat"\nRW 2 FLAT "json:{\\"driver\\":\\"nbd\\",\\"host\\":\\"10.0.0.1\\"}" 0\n',
    ),
  ),
  imageCase('VMDK descriptor without the comment line', 'UnsafeDiskImage', 'vmdk', (p) =>
    writeFile(p, 'version=1\ncreateType="twoGbMaxExtentFlat"\nRW 2 FLAT "/etc/shadow" 0\n'),
  ),
  imageCase('VHDX declared, qcow2 sent', 'UnsafeDiskImage', 'vhdx', (p) =>
    qemuImg('create', '-q', '-f', 'qcow2', p, '1M'),
  ),
  imageCase('Glance disk_format "iso"', 'UnsupportedDiskFormat', 'iso', (p) => writeFile(p, 'x')),
  imageCase('Glance disk_format "../../../etc/x"', 'UnsupportedDiskFormat', '../../../etc/x', (p) =>
    writeFile(p, 'x'),
  ),
];
