// Hostile OVF descriptors (parsed alone) and hostile OVAs (exported from an HTTP server into the
// sandbox's scratch directory).
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { exportOva } from '../../functions/shared/sources/ova/export.ts';
import { parseOvfDescriptor } from '../../functions/shared/sources/ova/ovf-descriptor.ts';
import {
  buildTar,
  hostileOva,
  hostileOvf,
  type BufferServer,
  type ServeMode,
} from '../support/hostile/ova.ts';
import { validVmdk } from '../support/hostile/vmdk.ts';
import type { HostileCase } from './case.ts';

const MiB = 1024 * 1024;

function ovfCase(name: string, expect: string, ovf: () => string): HostileCase {
  return { kind: 'ovf', name, expect, run: async () => parseOvfDescriptor(ovf()) };
}

export const ovfCases: HostileCase[] = [
  ovfCase('not XML', 'InvalidOvf', () => 'this is { not xml'),
  ovfCase('root element is not an OVF Envelope', 'InvalidOvf', () => '<html><body>hello</body></html>'),
  ovfCase('2 MiB descriptor', 'InvalidOvf', () =>
    hostileOvf({ extra: `<Annotation>${'a'.repeat(2 * MiB)}</Annotation>` }),
  ),
  ovfCase('100 000 empty elements in 400 KiB', 'InvalidOvf', () =>
    hostileOvf({ extra: `<Info>${'<a/>'.repeat(100_000)}</Info>` }),
  ),
  ovfCase('elements nested 5 000 deep', 'InvalidOvf', () =>
    hostileOvf({ extra: `${'<a>'.repeat(5000)}${'</a>'.repeat(5000)}` }),
  ),
  ovfCase('DOCTYPE with an entity expansion bomb', 'InvalidOvf', () => {
    const ents = ['<!ENTITY a0 "lollollollollollollollollollol">'];
    for (let i = 1; i < 10; i++) ents.push(`<!ENTITY a${i} "${`&a${i - 1};`.repeat(10)}">`);
    return hostileOvf()
      .replace('<Envelope', `<!DOCTYPE Envelope [${ents.join('')}]>\n<Envelope`)
      .replace('hostile-vm', '&a9;');
  }),
  ovfCase('capacity "0x10"', 'InvalidOvf', () => hostileOvf({ disks: [{ capacity: '0x10' }] })),
  ovfCase('capacity units "byte * 2^-3"', 'InvalidOvf', () =>
    hostileOvf({ disks: [{ capacity: '16', units: 'byte * 2^-3' }] }),
  ),
  ovfCase('capacity 2^63', 'InvalidOvf', () => hostileOvf({ disks: [{ capacity: '9223372036854775808' }] })),
  ovfCase('capacity 1e300', 'InvalidOvf', () => hostileOvf({ disks: [{ capacity: '1e300' }] })),
  ovfCase('capacity -1', 'InvalidOvf', () => hostileOvf({ disks: [{ capacity: '-1' }] })),
  ovfCase('capacity of 400 digits', 'InvalidOvf', () =>
    hostileOvf({ disks: [{ capacity: '9'.repeat(400) }] }),
  ),
  ovfCase('capacity units "byte * 2^1000"', 'InvalidOvf', () =>
    hostileOvf({ disks: [{ capacity: '1', units: 'byte * 2^1000' }] }),
  ),
  ovfCase('capacity of 100 TiB', 'InvalidOvf', () =>
    hostileOvf({ disks: [{ capacity: '100', units: 'byte * 2^40' }] }),
  ),
  ovfCase('two disks on one file', 'InvalidOvf', () =>
    hostileOvf({ disks: [{ fileRef: 'file1' }, { fileRef: 'file1' }] }),
  ),
  ovfCase('two files with one name in different folders', 'InvalidOvf', () =>
    hostileOvf({
      files: [
        { id: 'file1', href: 'a/disk.vmdk' },
        { id: 'file2', href: 'b/disk.vmdk' },
      ],
      disks: [{}, {}],
    }),
  ),
  ovfCase('65 disks', 'InvalidOvf', () =>
    hostileOvf({
      files: Array.from({ length: 65 }, (_, i) => ({ id: `file${i + 1}`, href: `d${i}.vmdk` })),
      disks: Array.from({ length: 65 }, () => ({})),
    }),
  ),
  ovfCase('65 network adapters', 'InvalidOvf', () => hostileOvf({ nics: 65 })),
  ovfCase('memory of 2^70 MiB', 'InvalidOvf', () => hostileOvf({ memory: String(2n ** 70n) })),
  ovfCase('a disk referencing an unlisted file', 'InvalidOvf', () =>
    hostileOvf({ disks: [{ fileRef: 'nope' }] }),
  ),
  ovfCase('a chunk size of 0', 'InvalidOvf', () =>
    hostileOvf().replace('ovf:href="disk1.vmdk"', 'ovf:href="disk1.vmdk" ovf:chunkSize="0"'),
  ),
  ovfCase('a chunk size of 1e300', 'InvalidOvf', () =>
    hostileOvf().replace('ovf:href="disk1.vmdk"', 'ovf:href="disk1.vmdk" ovf:chunkSize="1e300"'),
  ),
  ovfCase('a bzip2-compressed file', 'UnsupportedOva', () =>
    hostileOvf().replace('ovf:href="disk1.vmdk"', 'ovf:href="disk1.vmdk" ovf:compression="bzip2"'),
  ),
  ovfCase('a VirtualSystemCollection without VirtualSystems', 'InvalidOvf', () =>
    hostileOvf()
      .replace(/<VirtualSystem /g, '<VirtualSystemCollection ')
      .replace(/<\/VirtualSystem>/g, '</VirtualSystemCollection>'),
  ),
  ovfCase('a vApp and no virtualMachineName', 'VirtualMachineNotFound', () =>
    hostileOvf()
      .replace('<VirtualSystem ', '<VirtualSystemCollection ovf:id="vapp"><Info>vApp</Info><VirtualSystem ')
      .replace('</VirtualSystem>', '</VirtualSystem></VirtualSystemCollection>'),
  ),
];

// ---- OVAs over HTTP --------------------------------------------------------------------------

let serial = 0;
function ovaCase(
  name: string,
  expect: string,
  body: () => Promise<Buffer>,
  opts: { mode?: ServeMode; timeout?: number } = {},
): (server: BufferServer) => HostileCase {
  return (server) => ({
    kind: 'ova',
    name,
    expect,
    run: async (s) => {
      const file = `case-${serial++}.ova`;
      server.put(file, await body(), opts.mode);
      return exportOva({ url: server.url(file), httpTimeoutSeconds: opts.timeout ?? 60 }, undefined, {
        scratchDir: s.scratch,
      });
    },
  });
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const QCOW2_FORMAT = 'http://www.gnome.org/~markmc/qcow-image-format.html';
const gzipOvf = (href: string) =>
  hostileOvf({ files: [{ id: 'file1', href }] }).replace(
    `ovf:href="${href}"`,
    `ovf:href="${href}" ovf:compression="gzip"`,
  );
const chunkedOvf = (chunkSize: number) =>
  hostileOvf().replace('ovf:href="disk1.vmdk"', `ovf:href="disk1.vmdk" ovf:chunkSize="${chunkSize}"`);

/** A qcow2 v3 header (1 MiB disk) that names a backing file: qemu-img would open that file. */
function qcow2WithBackingFile(): Buffer {
  const b = Buffer.alloc(64 * 1024);
  b.writeUInt32BE(0x514649fb, 0);
  b.writeUInt32BE(3, 4);
  b.writeBigUInt64BE(512n, 8); // backing_file_offset
  b.writeUInt32BE(11, 16); // backing_file_size
  b.writeUInt32BE(16, 20); // cluster_bits
  b.writeBigUInt64BE(BigInt(MiB), 24);
  b.write('/etc/shadow', 512, 'latin1');
  return b;
}
const ovfText = hostileOvf();
const vmdk = validVmdk();
const bigOvf = hostileOvf({ disks: [{ capacity: String(100 * MiB) }] });

export const ovaCaseFactories = [
  ovaCase('random bytes', 'InvalidOva', async () => Buffer.alloc(64 * 1024, 0x5a)),
  ovaCase('an empty body', 'InvalidOva', async () => Buffer.alloc(0)),
  ovaCase('a tar without an OVF', 'InvalidOva', () => buildTar([{ name: 'disk1.vmdk', data: vmdk }])),
  ovaCase('a tar cut inside a member header', 'InvalidOva', async () =>
    (await hostileOva(ovfText)).subarray(0, 1500),
  ),
  ovaCase('a tar cut inside the disk member', 'InvalidOva', async () =>
    (await hostileOva(ovfText)).subarray(0, 512 * 3 + 2048 + vmdk.length / 2),
  ),
  ovaCase('an OVF member of 4 MiB', 'InvalidOvf', () =>
    buildTar([
      { name: 'vm.ovf', data: hostileOvf({ extra: `<Annotation>${'a'.repeat(4 * MiB)}</Annotation>` }) },
    ]),
  ),
  ovaCase('a manifest of 2 MiB', 'InvalidOva', () =>
    buildTar([
      { name: 'vm.ovf', data: ovfText },
      { name: 'vm.mf', data: `SHA256(x)= ${'0'.repeat(64)}\n`.repeat(30_000) },
    ]),
  ),
  ovaCase('the disk the OVF names is missing', 'DiskFileMissing', () =>
    buildTar([{ name: 'vm.ovf', data: ovfText }]),
  ),
  ovaCase('the disk is a symlink to /etc/passwd', 'DiskFileMissing', () =>
    buildTar([
      { name: 'vm.ovf', data: ovfText },
      { name: 'disk1.vmdk', type: 'symlink', linkname: '/etc/passwd' },
    ]),
  ),
  ovaCase('the disk is a hard link', 'DiskFileMissing', () =>
    buildTar([
      { name: 'vm.ovf', data: ovfText },
      { name: 'disk1.vmdk', type: 'link', linkname: 'vm.ovf' },
    ]),
  ),
  ovaCase('a disk member named ../../outside/disk1.vmdk', 'accepted', () =>
    buildTar([
      { name: 'vm.ovf', data: ovfText },
      { name: '../../outside/disk1.vmdk', data: vmdk },
    ]),
  ),
  ovaCase('an OVF href of /etc/disk1.vmdk', 'accepted', () =>
    buildTar([
      { name: 'vm.ovf', data: hostileOvf({ files: [{ id: 'file1', href: '/etc/disk1.vmdk' }] }) },
      { name: 'disk1.vmdk', data: vmdk },
    ]),
  ),
  ovaCase('a corrupt VMDK', 'NotStreamOptimizedVmdk', () =>
    hostileOva(ovfText, { 'disk1.vmdk': Buffer.alloc(4096, 1) }),
  ),
  ovaCase('a manifest whose digest does not match the disk', 'ChecksumMismatch', () =>
    buildTar([
      { name: 'vm.ovf', data: ovfText },
      { name: 'vm.mf', data: `SHA256(vm.ovf)= ${sha256(ovfText)}\nSHA256(disk1.vmdk)= ${'0'.repeat(64)}\n` },
      { name: 'disk1.vmdk', data: vmdk },
    ]),
  ),
  ovaCase('a manifest without the disk', 'ManifestIncomplete', () =>
    buildTar([
      { name: 'vm.ovf', data: ovfText },
      { name: 'vm.mf', data: `SHA256(vm.ovf)= ${sha256(ovfText)}\n` },
      { name: 'disk1.vmdk', data: vmdk },
    ]),
  ),
  ovaCase('the same disk member twice', 'InvalidOva', () =>
    buildTar([
      { name: 'vm.ovf', data: ovfText },
      { name: 'disk1.vmdk', data: vmdk },
      { name: 'disk1.vmdk', data: vmdk },
    ]),
  ),
  ovaCase('two OVF disks on one file', 'InvalidOvf', () =>
    hostileOva(hostileOvf({ disks: [{ fileRef: 'file1' }, { fileRef: 'file1' }] })),
  ),
  ovaCase('VMDK of 8 TiB for an OVF disk of 1 MiB', 'DiskSizeMismatch', () =>
    hostileOva(ovfText, { 'disk1.vmdk': validVmdk(1, (8n * 2n ** 40n) / 512n) }),
  ),
  ovaCase('OVF disk of 8 TiB for a VMDK of 1 MiB', 'DiskSizeMismatch', () =>
    hostileOva(hostileOvf({ disks: [{ capacity: '8', units: 'byte * 2^40' }] })),
  ),
  ovaCase('a disk format that is no supported image format (VHD)', 'UnsupportedDiskFormat', () =>
    hostileOva(hostileOvf({ disks: [{ format: 'http://go.microsoft.com/fwlink/?linkid=137171' }] })),
  ),
  ovaCase('a gzip bomb: a 1 MiB disk whose file inflates to 128 MiB', 'InvalidOva', async () =>
    buildTar([
      { name: 'vm.ovf', data: gzipOvf('disk1.vmdk.gz') },
      // gzip members concatenated (gzip(1) reads them as one stream): 128 KiB that inflate to 128 MiB.
      {
        name: 'disk1.vmdk.gz',
        data: Buffer.concat([gzipSync(vmdk), ...Array<Buffer>(128).fill(gzipSync(Buffer.alloc(MiB)))]),
      },
    ]),
  ),
  ovaCase('gzip data that is not gzip', 'InvalidOva', () =>
    buildTar([
      { name: 'vm.ovf', data: gzipOvf('disk1.vmdk.gz') },
      {
        name: 'disk1.vmdk.gz',
        data: Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.alloc(4096, 0x41)]),
      },
    ]),
  ),
  ovaCase('a gzipped disk the OVF does not call compressed', 'UnsupportedDiskFormat', () =>
    hostileOva(ovfText, { 'disk1.vmdk': gzipSync(vmdk) }),
  ),
  ovaCase('a qcow2 disk with a backing file', 'UnsafeDiskImage', () =>
    hostileOva(hostileOvf({ disks: [{ format: QCOW2_FORMAT }] }), { 'disk1.vmdk': qcow2WithBackingFile() }),
  ),
  ovaCase('a chunk that is not the last and short', 'InvalidOva', () =>
    buildTar([
      { name: 'vm.ovf', data: chunkedOvf(4096) },
      { name: 'disk1.vmdk.000000000', data: vmdk.subarray(0, 1024) },
      { name: 'disk1.vmdk.000000001', data: vmdk.subarray(1024) },
    ]),
  ),
  ovaCase('chunks out of order', 'InvalidOva', () =>
    buildTar([
      { name: 'vm.ovf', data: chunkedOvf(4096) },
      { name: 'disk1.vmdk.000000001', data: vmdk.subarray(4096) },
      { name: 'disk1.vmdk.000000000', data: vmdk.subarray(0, 4096) },
    ]),
  ),
  ovaCase('a raw disk longer than the OVF capacity', 'DiskSizeMismatch', () =>
    hostileOva(hostileOvf({ disks: [{ format: 'http://en.wikipedia.org/wiki/Byte' }] }), {
      'disk1.vmdk': Buffer.alloc(3 * MiB, 1),
    }),
  ),
  ovaCase('1 500 empty members', 'InvalidOva', () =>
    buildTar([
      ...Array.from({ length: 1500 }, (_, i) => ({ name: `junk-${i}.txt`, data: '' })),
      { name: 'vm.ovf', data: ovfText },
    ]),
  ),
  ovaCase('100 unused .vmdk members before the OVF', 'InvalidOva', () =>
    buildTar([
      ...Array.from({ length: 100 }, (_, i) => ({ name: `unused-${i}.vmdk`, data: vmdk })),
      { name: 'vm.ovf', data: ovfText },
      { name: 'disk1.vmdk', data: vmdk },
    ]),
  ),
  ovaCase(
    'a server that stalls halfway',
    'Timeout',
    () => hostileOva(bigOvf, { 'disk1.vmdk': validVmdk(200, 2048n * 100n) }),
    {
      mode: 'stall',
      timeout: 2,
    },
  ),
  ovaCase(
    'a server that resets the connection halfway',
    'EndpointUnreachable',
    () => hostileOva(bigOvf, { 'disk1.vmdk': validVmdk(200, 2048n * 100n) }),
    { mode: 'reset' },
  ),
];
