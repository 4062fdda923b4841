// OVF descriptors and OVA downloads as an attacker would write or serve them (issue 22 rows 4, 6,
// 8, 10, 14): each is refused with a specific reason and a message without internal paths.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readOvaDescriptor } from '../../functions/shared/sources/ova/describe.ts';
import { exportOva } from '../../functions/shared/sources/ova/export.ts';
import { parseOvfDescriptor } from '../../functions/shared/sources/ova/ovf-descriptor.ts';
import { SourceError } from '../../functions/shared/sources/source-error.ts';
import {
  buildTar,
  hostileOva,
  hostileOvf,
  startBufferServer,
  type BufferServer,
} from '../support/hostile/ova.ts';
import { validVmdk } from '../support/hostile/vmdk.ts';

const sourceError = (reason: string, message: RegExp) => (e: unknown) => {
  assert.ok(e instanceof SourceError, `a SourceError, got ${String(e)}`);
  assert.equal(e.reason, reason, e.message);
  assert.match(e.message, message);
  return true;
};

describe('OVF descriptor: capacities and units (rows 10, 14)', () => {
  test('row 14: capacity "0x10" is not a decimal number', () => {
    assert.throws(
      () => parseOvfDescriptor(hostileOvf({ disks: [{ capacity: '0x10', units: 'byte' }] })),
      sourceError('InvalidOvf', /capacity "0x10"/),
    );
  });
  test('row 14: units "byte * 2^-3" (an eighth of a byte) are refused', () => {
    assert.throws(
      () => parseOvfDescriptor(hostileOvf({ disks: [{ capacity: '16', units: 'byte * 2^-3' }] })),
      sourceError('InvalidOvf', /units "byte \* 2\^-3"/),
    );
  });
  test('row 10: capacity 2^63 bytes is refused as larger than the largest supported disk', () => {
    assert.throws(
      () => parseOvfDescriptor(hostileOvf({ disks: [{ capacity: '9223372036854775808' }] })),
      sourceError('InvalidOvf', /larger than the largest supported disk/),
    );
  });
  test('row 10: capacity 1e300 is refused', () => {
    assert.throws(
      () => parseOvfDescriptor(hostileOvf({ disks: [{ capacity: '1e300' }] })),
      sourceError('InvalidOvf', /capacity "1e300"/),
    );
  });
  test('row 10: two disks naming one file are refused', () => {
    assert.throws(
      () =>
        parseOvfDescriptor(
          hostileOvf({
            disks: [{ fileRef: 'file1' }, { fileRef: 'file1' }],
            files: [{ id: 'file1', href: 'disk1.vmdk' }],
          }),
        ),
      sourceError('InvalidOvf', /both use file "disk1.vmdk"/),
    );
  });
  test('row 6: a 4 MiB OVF is refused before it is parsed', () => {
    const padding = `<Annotation>${'x'.repeat(4 * 1024 * 1024)}</Annotation>`;
    assert.throws(
      () => parseOvfDescriptor(hostileOvf({ extra: padding })),
      sourceError('InvalidOvf', /larger than the \d+ bytes accepted/),
    );
  });
  test('row 6: an OVF of 100 000 small elements is refused before the tree is built', () => {
    const many = '<a/>'.repeat(100_000);
    assert.throws(
      () => parseOvfDescriptor(hostileOvf({ extra: `<Info>${many}</Info>` })),
      sourceError('InvalidOvf', /more than \d+ elements/),
    );
  });
});

describe('OVA exports of hostile archives and servers (rows 4, 6, 8, 10)', () => {
  let server: BufferServer;
  let root: string;
  before(async () => {
    server = await startBufferServer();
    root = await mkdtemp(join(tmpdir(), 'ova-hostile-'));
  });
  after(async () => {
    await server.close();
    await rm(root, { recursive: true, force: true });
  });

  async function exportBuffer(
    name: string,
    body: Buffer,
    mode?: Parameters<BufferServer['put']>[2],
    timeout = 30,
  ) {
    server.put(name, body, mode);
    const scratchDir = await mkdtemp(join(root, 'scratch-'));
    try {
      return await exportOva({ url: server.url(name), httpTimeoutSeconds: timeout }, undefined, {
        scratchDir,
      });
    } catch (e) {
      assert.deepEqual(await readdir(scratchDir), [], 'no file left in scratch');
      assert.ok(!(e as Error).message.includes(scratchDir), `no scratch path in "${(e as Error).message}"`);
      throw e;
    }
  }

  test('row 8: a VMDK header of 8 TiB for a disk the OVF says is 1 MiB is refused', async () => {
    const ova = await hostileOva(hostileOvf(), { 'disk1.vmdk': validVmdk(1, (8n * 2n ** 40n) / 512n) });
    await assert.rejects(exportBuffer('vmdk-8t.ova', ova), sourceError('DiskSizeMismatch', /8796093022208/));
  });

  test('row 8: an OVF capacity of 8 TiB for a 1 MiB VMDK is refused', async () => {
    const ova = await hostileOva(hostileOvf({ disks: [{ capacity: '8', units: 'byte * 2^40' }] }));
    await assert.rejects(exportBuffer('ovf-8t.ova', ova), sourceError('DiskSizeMismatch', /1048576/));
  });

  test('row 10: an OVF whose two disks name one file is InvalidOvf, without internal paths', async () => {
    const ovf = hostileOvf({ disks: [{ fileRef: 'file1' }, { fileRef: 'file1' }] });
    await assert.rejects(
      exportBuffer('two-one.ova', await hostileOva(ovf)),
      sourceError('InvalidOvf', /both use/),
    );
  });

  test('row 10: an OVF capacity of 2^63 bytes for a blank disk is InvalidOvf, without internal paths', async () => {
    const ovf = hostileOvf({
      disks: [{}, { capacity: '9223372036854775808', fileRef: '' }],
    });
    await assert.rejects(
      exportBuffer('huge-blank.ova', await hostileOva(ovf)),
      sourceError('InvalidOvf', /largest/),
    );
  });

  test('row 6: a 4 MiB OVF sent without Content-Length is refused when the description is read', async () => {
    const ovf = hostileOvf({ extra: `<Annotation>${'x'.repeat(4 * 1024 * 1024)}</Annotation>` });
    server.put('big-ovf.ova', await hostileOva(ovf), 'no-length');
    await assert.rejects(
      readOvaDescriptor({ url: server.url('big-ovf.ova') }),
      (e: unknown) => e instanceof SourceError && /larger than/.test(e.message) && /Ovf|Ova/.test(e.reason),
    );
  });

  test('row 12: a manifest that leaves out the OVF is ManifestIncomplete (the OVF could have been edited)', async () => {
    const ovf = hostileOvf();
    const vmdk = validVmdk();
    const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
    const ova = await buildTar([
      { name: 'vm.ovf', data: ovf },
      { name: 'vm.mf', data: `SHA256(disk1.vmdk)= ${sha(vmdk)}\n` },
      { name: 'disk1.vmdk', data: vmdk },
    ]);
    await assert.rejects(exportBuffer('mf-no-ovf.ova', ova), sourceError('ManifestIncomplete', /"vm.ovf"/));
  });

  test('row 12: a checksum mismatch speaks of a change after the manifest was written, not of a signature', async () => {
    const ovf = hostileOvf();
    const vmdk = validVmdk();
    const sha = createHash('sha256').update(vmdk).digest('hex');
    const ova = await buildTar([
      { name: 'vm.ovf', data: ovf },
      { name: 'vm.mf', data: `SHA256(vm.ovf)= ${'0'.repeat(64)}\nSHA256(disk1.vmdk)= ${sha}\n` },
      { name: 'disk1.vmdk', data: vmdk },
    ]);
    await assert.rejects(exportBuffer('mf-bad.ova', ova), (e: unknown) => {
      sourceError('ChecksumMismatch', /manifest/)(e);
      assert.doesNotMatch((e as Error).message, /sign/);
      return true;
    });
  });

  for (const mode of ['stall', 'reset', 'close-early'] as const) {
    test(
      `row 4: a server that ${mode === 'stall' ? 'stalls' : mode === 'reset' ? 'resets' : 'closes early'} mid-download settles the export`,
      { timeout: 20_000 },
      async () => {
        const big = validVmdk(400, 2n ** 20n); // ~26 MiB of incompressible grains
        const ova = await hostileOva(hostileOvf({ disks: [{ capacity: String(2 ** 29) }] }), {
          'disk1.vmdk': big,
        });
        const started = Date.now();
        await assert.rejects(exportBuffer(`${mode}.ova`, ova, mode, 2), (e: unknown) => {
          assert.ok(e instanceof SourceError, String(e));
          assert.match(
            e.reason,
            mode === 'stall' ? /Timeout/ : /Timeout|Unreachable|InvalidOva|Truncated|Network|Connection/,
          );
          return true;
        });
        assert.ok(Date.now() - started < 15_000);
      },
    );
  }
});
