import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadInventory, parseInventory } from '../../local-cluster/simulators/inventory.ts';
import {
  BLOCK_BYTES,
  allocatedBlocks,
  blockData,
  writeDiskContent,
} from '../../local-cluster/simulators/disk-content.ts';

test('the default inventory parses and has a VM per source kind', async () => {
  const inventory = await loadInventory();
  assert.equal(inventory.vmware?.vms.length, 1);
  assert.equal(inventory.openstack?.servers.length, 1);
  assert.equal(inventory.ova?.length, 1);
});

test('an inventory with a bad controller type is rejected naming the field', () => {
  assert.throws(
    () => parseInventory('vmware: {vms: [{name: a, disks: [{sizeMiB: 1, controller: floppy}]}]}'),
    /controller/,
  );
});

test('disk content is deterministic, sparse, and holds the allocated share', async () => {
  const spec = { sizeMiB: 20, allocatedPercent: 25, seed: 7 };
  const blocks = allocatedBlocks(spec);
  assert.equal(blocks.length, 5);
  assert.deepEqual(allocatedBlocks(spec), blocks);
  assert.notDeepEqual(allocatedBlocks({ ...spec, seed: 8 }), blocks);
  const dir = await mkdtemp(join(tmpdir(), 'disk-content-'));
  const path = join(dir, 'disk.raw');
  assert.deepEqual(await writeDiskContent(path, spec), {
    sizeBytes: 20 * BLOCK_BYTES,
    allocatedBytes: 5 * BLOCK_BYTES,
  });
  const data = await readFile(path);
  for (let b = 0; b < 20; b++) {
    const chunk = data.subarray(b * BLOCK_BYTES, (b + 1) * BLOCK_BYTES);
    if (blocks.includes(b)) assert.ok(chunk.equals(blockData(7, b)), `block ${b} holds its data`);
    else
      assert.ok(
        chunk.every((x) => x === 0),
        `block ${b} is zero`,
      );
  }
  assert.ok((await stat(path)).blocks * 512 <= 6 * BLOCK_BYTES, 'file is sparse');
  assert.ok(!blockData(7, 1).equals(blockData(7, 2)));
});
