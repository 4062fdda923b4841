// Glance images that name other files or network places (issue 22 row 2): a qcow2 with a backing
// file, a json:/nbd backing spec, an external data file, a VMDK descriptor naming a local file as
// its extent. The export must refuse each before qemu-img convert reads anything it names.
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { OpenstackClient } from '../../functions/shared/sources/openstack/client.ts';
import { ServerExport } from '../../functions/shared/sources/openstack/export.ts';
import { SourceError } from '../../functions/shared/sources/source-error.ts';
import {
  startOpenstackSimulator,
  type OpenstackSimulator,
} from '../../local-cluster/simulators/openstack/index.ts';
import { IMAGE_BOOTED, OPENSTACK_TEST_INVENTORY as inventory } from '../support/openstack.ts';
import { openstackConnection } from '../../local-cluster/simulators/openstack/connection.ts';

const SETTINGS = { pollInitialMs: 20, pollMaxMs: 200, uploadImageRetryCount: 30, uploadImageRetryDelay: 1 };
const SECRET = 'TOP-SECRET-PASSWORD-FILE-CONTENT\n'.repeat(16);

interface ImageLike {
  path: string;
  size: number;
  virtualSize: number;
  diskFormat: string;
  checksum: string;
  hashValue: string;
}
interface ModelInternals {
  fillImage(image: ImageLike, source: string, format: string): Promise<void>;
  hashOf(path: string): Promise<{ md5: string; sha512: string }>;
}

let sim: OpenstackSimulator;
let work: string;
let secretPath: string;
let nbd: Server;
let nbdConnections = 0;
/** What the next image made by createImage holds instead of the server's disk. */
let nextImage: { path: string; diskFormat: string } | undefined;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'openstack-image-hostile-'));
  secretPath = join(work, 'secret.txt');
  await writeFile(secretPath, SECRET);
  nbd = createServer((s) => {
    nbdConnections++;
    s.destroy();
  });
  await new Promise<void>((r) => nbd.listen(0, '127.0.0.1', r));
  sim = await startOpenstackSimulator({ inventory, workDir: join(work, 'sim'), serverImageFormat: 'qcow2' });
  const model = sim.model as unknown as ModelInternals;
  const fill = model.fillImage.bind(model);
  // As the simulator's own fillImage (model.ts), with the hostile file as the image's content.
  model.fillImage = async (image, source, format) => {
    if (!nextImage) return fill(image, source, format);
    const path = join(work, `image-${Math.random().toString(16).slice(2)}`);
    await copyFile(nextImage.path, path);
    const h = await model.hashOf(path);
    Object.assign(image, {
      path,
      diskFormat: nextImage.diskFormat,
      size: (await stat(path)).size,
      virtualSize: (await stat(source)).size,
      checksum: h.md5,
      hashValue: h.sha512,
      status: 'active',
      updatedAt: new Date().toISOString().replace(/\.\d+Z$/, '.000000'),
    });
  };
});

after(async () => {
  await sim?.stop();
  await new Promise<void>((r) => nbd.close(() => r()));
  await rm(work, { recursive: true, force: true });
});

async function hostile(name: string, make: (path: string) => Promise<void>, diskFormat: string) {
  const path = join(work, name);
  await make(path);
  return { path, diskFormat };
}

async function exportWith(image: { path: string; diskFormat: string }) {
  nextImage = image;
  const scratchDir = await mkdtemp(join(work, 'scratch-'));
  try {
    const client = await OpenstackClient.connect(openstackConnection(sim));
    await new ServerExport(client, SETTINGS).run(IMAGE_BOOTED, { scratchDir });
    const out = await readFile(join(scratchDir, 'disk-0.raw'));
    return {
      error: undefined,
      leaked: out.includes(Buffer.from('TOP-SECRET')),
      files: await readdir(scratchDir),
    };
  } catch (error) {
    return { error, leaked: false, files: await readdir(scratchDir) };
  } finally {
    nextImage = undefined;
  }
}

function assertRefused(r: Awaited<ReturnType<typeof exportWith>>, text: RegExp) {
  assert.equal(r.leaked, false, 'the referenced file ended up in the exported disk');
  assert.ok(r.error instanceof SourceError, `refused with a SourceError, got ${String(r.error)}`);
  assert.equal(r.error.reason, 'UnsafeDiskImage', r.error.message);
  assert.match(r.error.message, text);
  assert.ok(!r.error.message.includes(work), 'no internal path in the message');
  assert.deepEqual(r.files, [], 'nothing left in scratch');
}

describe('row 2: Glance images that reference other files or hosts', () => {
  it('a qcow2 whose backing file is a local file is refused; the file is not read into the disk', async () => {
    const image = await hostile(
      'backing.qcow2',
      (p) =>
        execa('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', secretPath, p, '1M']).then(
          () => undefined,
        ),
      'qcow2',
    );
    assertRefused(await exportWith(image), /backing file/);
  });

  it('a qcow2 whose backing file is a json: nbd spec is refused without connecting anywhere', async () => {
    const port = (nbd.address() as AddressInfo).port;
    const spec = `json:{"driver":"raw","file":{"driver":"nbd","server":{"type":"inet","host":"127.0.0.1","port":"${port}"}}}`;
    const image = await hostile(
      'nbd.qcow2',
      (p) =>
        execa('qemu-img', ['create', '-q', '-f', 'qcow2', '-u', '-F', 'raw', '-b', spec, p, '1M']).then(
          () => undefined,
        ),
      'qcow2',
    );
    const before = nbdConnections;
    assertRefused(await exportWith(image), /backing file/);
    assert.equal(nbdConnections, before, 'no connection to the host the image names');
  });

  it('a qcow2 with an external data file is refused', async () => {
    const image = await hostile(
      'datafile.qcow2',
      async (p) => {
        const data = join(work, 'data-file.raw');
        await execa('qemu-img', [
          'create',
          '-q',
          '-f',
          'qcow2',
          '-o',
          `data_file=${data},data_file_raw=on`,
          p,
          '1M',
        ]);
        await writeFile(
          data,
          Buffer.concat([Buffer.from(SECRET), Buffer.alloc(1024 * 1024 - SECRET.length)]),
        );
      },
      'qcow2',
    );
    assertRefused(await exportWith(image), /data file/);
  });

  it('a VMDK descriptor naming a local file as its extent is refused', async () => {
    const image = await hostile(
      'extent.vmdk',
      (p) =>
        writeFile(
          p,
          `# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\nRW 1 FLAT "${secretPath}" 0\n\nddb.adapterType = "ide"\n`,
        ),
      'vmdk',
    );
    assertRefused(await exportWith(image), /extent|descriptor/);
  });

  it('an image whose bytes are not the format Glance declares is refused', async () => {
    const image = await hostile('fake.qcow2', (p) => writeFile(p, Buffer.alloc(1024 * 1024, 1)), 'qcow2');
    assertRefused(await exportWith(image), /not a qcow2/);
  });
});
