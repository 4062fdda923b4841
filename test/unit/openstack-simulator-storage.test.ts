// The OpenStack simulator's storage backends: 'copy' (LVM-like full copies) and 'clone' (Ceph-like
// copy-on-write clones, here hard links), with volume content taken from the shared disk cache.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { diskCachePath } from '../../local-cluster/simulators/disk-content.ts';
import { Inventory } from '../../local-cluster/simulators/inventory.ts';
import { CloudModel, type StorageBackend } from '../../local-cluster/simulators/openstack/model.ts';

const spec = { sizeMiB: 1024, allocatedPercent: 1, seed: 77 };

async function until<T>(what: string, get: () => T | undefined): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function modelWith(storage: StorageBackend, work: string, cache: string): Promise<CloudModel> {
  const inventory = Inventory.parse({
    openstack: {
      servers: [
        {
          name: 's',
          status: 'SHUTOFF',
          flavor: { vcpus: 1, ramMiB: 512 },
          volumes: [{ ...spec, bootable: true }],
        },
      ],
    },
  });
  const model = new CloudModel(inventory.openstack!, { workDir: work, storage, diskCacheDir: cache });
  await model.load();
  return model;
}

describe('OpenStack simulator storage backends', () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'os-storage-'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  for (const storage of ['copy', 'clone'] as const) {
    test(`${storage}: volume from the disk cache, snapshot, larger volume, image; the cache is never changed`, async () => {
      const cache = join(work, 'cache');
      const model = await modelWith(storage, join(work, storage), cache);
      const cached = diskCachePath(cache, spec);
      const cachedBefore = await stat(cached);
      const [volume] = model.volumes.values();
      const ino = async (p: string) => (await stat(p)).ino;
      assert.equal((await ino(volume!.path)) === cachedBefore.ino, storage === 'clone');
      assert.deepEqual(await readFile(volume!.path), await readFile(cached));

      const snap = model.createSnapshot(volume!, 'snap', null);
      await until('snapshot', () => (snap.status === 'available' ? snap : undefined));
      assert.equal((await ino(snap.path)) === cachedBefore.ino, storage === 'clone');

      const bigger = model.createVolumeFromSnapshot(snap, 2, 'bigger', null);
      await until('volume', () => (bigger.status === 'available' ? bigger : undefined));
      assert.equal((await stat(bigger.path)).size, 2 * 1024 ** 3);
      assert.notEqual(await ino(bigger.path), cachedBefore.ino);

      const image = model.uploadVolumeToImage(volume!, 'img', 'raw', 'bare');
      await until('image', () => (image.status === 'active' ? image : undefined));
      assert.equal((await ino(image.path!)) === cachedBefore.ino, storage === 'clone');

      const cachedAfter = await stat(cached);
      assert.equal(cachedAfter.size, cachedBefore.size);
      assert.equal(cachedAfter.mtimeMs, cachedBefore.mtimeMs);
      model.shutdown();
    });
  }
});
