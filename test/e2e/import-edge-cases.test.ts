// Negative and edge cases end to end on the local cluster, with the broker's fault injection on
// (duplicated, reordered and first-failing deliveries): every import still ends in the documented
// state with a message, deletion leaves nothing behind, and re-creating an import works again.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startLocalCluster, type LocalCluster } from '../../local-cluster/cluster.ts';
import { applyExampleSources, sameDisk, waitForImports } from '../support/e2e.ts';
import { STORAGE_CLASS_CASE_OVAS, storageClassCases } from '../support/storage-class-cases.ts';
import { DEFAULT_HARVESTER_VERSION } from '../../local-cluster/runtime/harvester/versions.ts';
import { importStatus } from '../../local-cluster/import-status.ts';

let cluster: LocalCluster;
let stateDir: string;

const inventory = {
  vmware: {
    datacenter: 'DC0',
    networks: [
      { name: 'VM Network', type: 'standard' },
      { name: 'dvSwitch 1', type: 'distributed' },
      { name: 'dvSwitch 2', type: 'distributed' },
    ],
    vms: [
      {
        name: 'alpine-export-test',
        folder: 'Discovered VM',
        cpus: 2,
        memoryMiB: 256,
        disks: [{ sizeMiB: 48, controller: 'pvscsi', allocatedPercent: 40, seed: 21 }],
        nics: [{ network: 'dvSwitch 1', type: 'vmxnet3', mac: '00:50:56:0a:0b:01' }],
      },
      {
        name: 'no-tools',
        toolsRunning: false,
        disks: [{ sizeMiB: 8, controller: 'sata', allocatedPercent: 50, seed: 22 }],
        nics: [{ network: 'VM Network', type: 'e1000' }],
      },
      {
        name: 'big-one',
        shutdownSeconds: 0,
        disks: [{ sizeMiB: 256, controller: 'pvscsi', allocatedPercent: 100, seed: 23 }],
        nics: [],
      },
    ],
  },
  openstack: {
    region: 'RegionOne',
    networks: ['shared'],
    servers: [
      {
        name: 'twin',
        status: 'SHUTOFF',
        flavor: { vcpus: 1, ramMiB: 256 },
        volumes: [{ sizeMiB: 8, bootable: true, seed: 4 }],
      },
      {
        name: 'twin',
        status: 'SHUTOFF',
        flavor: { vcpus: 1, ramMiB: 256 },
        volumes: [{ sizeMiB: 8, bootable: true, seed: 5 }],
      },
    ],
  },
  ova: [
    {
      name: 'appliance.ova',
      vm: {
        cpus: 1,
        memoryMiB: 128,
        disks: [{ sizeMiB: 16, controller: 'sata', allocatedPercent: 50, seed: 3 }],
        nics: [],
      },
    },
    ...STORAGE_CLASS_CASE_OVAS,
  ],
};

const vmImport = (name: string, spec: Record<string, unknown>, kind = 'VmwareSource', source = 'vcsim') =>
  stringify({
    apiVersion: 'migration.harvesterhci.io/v1beta1',
    kind: 'VirtualMachineImport',
    metadata: { name, namespace: 'default' },
    spec: {
      sourceCluster: {
        name: source,
        namespace: 'default',
        kind,
        apiVersion: 'migration.harvesterhci.io/v1beta1',
      },
      ...spec,
    },
  });

const apply = (yaml: string) => cluster.kubectl(['apply', '-f', '-'], yaml);
const lastMessage = async (name: string) =>
  (await importStatus(cluster, name)).importConditions?.at(-1)?.message ?? '';

describe('edge cases end to end, with fault injection on', () => {
  before(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'vm-import-e2e-edge-'));
    const inventoryFile = join(stateDir, 'inventory.yaml');
    await writeFile(inventoryFile, stringify(inventory));
    cluster = await startLocalCluster({
      stateDir,
      inventoryFile,
      imageRetryDelayMs: 3000,
      // The newest Harvester vm-import supports (ova-formats plays the oldest).
      harvesterVersion: DEFAULT_HARVESTER_VERSION,
      faults: { duplicate: 0.3, reorderWindowMs: 200, failFirstAttempts: 1, seed: 11 },
    });
    await applyExampleSources(cluster, 90);
  });
  after(async () => {
    await cluster?.stop();
    // KEEP_E2E_STATE=1 keeps the cluster's state and logs for a post-mortem.
    if (stateDir && !process.env.KEEP_E2E_STATE) await rm(stateDir, { recursive: true, force: true });
    else if (stateDir) console.log(`# local cluster state and logs kept in ${stateDir}`);
  });

  test('invalid imports end in virtualMachineImportInvalid with a message that says what to fix', async () => {
    await apply(
      [
        vmImport('bad-storage', {
          virtualMachineName: 'alpine-export-test',
          folder: 'Discovered VM',
          storageClass: 'gold',
        }),
        vmImport('bad-network', {
          virtualMachineName: 'alpine-export-test',
          folder: 'Discovered VM',
          networkMapping: [{ sourceNetwork: 'dvSwitch 1', destinationNetwork: 'default/vlan7' }],
        }),
        vmImport('bad-kind', { virtualMachineName: 'alpine-export-test' }, 'VMwareSrc'),
        vmImport('missing-vm', { virtualMachineName: 'no-such-vm' }),
        vmImport('tools-missing', { virtualMachineName: 'no-tools' }),
        vmImport('ambiguous', { virtualMachineName: 'twin' }, 'OpenstackSource', 'devstack'),
      ].join('---\n'),
    );
    const statuses = await waitForImports(
      cluster,
      ['bad-storage', 'bad-network', 'bad-kind', 'missing-vm', 'tools-missing', 'ambiguous'],
      120_000,
    );
    const expected: Record<string, RegExp> = {
      'bad-storage': /StorageClass "gold" does not exist/,
      'bad-network': /default\/vlan7/,
      'bad-kind': /unsupported source kind "VMwareSrc"/,
      'missing-vm': /no-such-vm/,
      'tools-missing': /VMware Tools is not running.*forcePowerOff/,
      ambiguous: /ID/,
    };
    for (const [name, message] of Object.entries(expected)) {
      assert.equal(statuses[name]!.importStatus, 'virtualMachineImportInvalid', name);
      assert.match(await lastMessage(name), message, name);
    }
    const events = await cluster.kubectl([
      'get',
      'events',
      '--field-selector',
      'involvedObject.name=bad-storage',
    ]);
    assert.match(events, /StorageClassNotFound/);
  });

  test('an import whose Tools are missing works with forcePowerOff; identical disks despite faults', async () => {
    await apply(
      [
        vmImport('forced', { virtualMachineName: 'no-tools', forcePowerOff: true }),
        vmImport('alpine', {
          virtualMachineName: 'alpine-export-test',
          folder: 'Discovered VM',
          networkMapping: [{ sourceNetwork: 'dvSwitch 1', destinationNetwork: 'default/vlan1' }],
        }),
        vmImport('appliance', { virtualMachineName: 'appliance' }, 'OvaSource', 'appliance'),
      ].join('---\n'),
    );
    const statuses = await waitForImports(cluster, ['forced', 'alpine', 'appliance'], 300_000);
    const sources = {
      forced: 'vmware/no-tools',
      alpine: 'vmware/alpine-export-test',
      appliance: 'ova/appliance',
    };
    for (const [name, source] of Object.entries(sources)) {
      assert.equal(
        statuses[name]!.importStatus,
        'virtualMachineRunning',
        `${name}: ${await lastMessage(name)}`,
      );
      const disk = statuses[name]!.diskImportStatus![0]!;
      const image = join(stateDir, 'harvester', 'images', 'default', `${disk.VirtualMachineImage}.raw`);
      assert.ok(await sameDisk(image, join(stateDir, 'sources', source, 'disk-0.raw')), name);
    }
    const forced = (await importStatus(cluster, 'forced')).importConditions ?? [];
    assert.ok(
      forced.some((c) => c.type === 'VMPoweringOff' && c.status === 'True'),
      'powered off, not shut down',
    );
    // a duplicate or late event after the end changes nothing
    const before = JSON.stringify(await importStatus(cluster, 'alpine'));
    await cluster.kubectl(['annotate', 'virtualmachineimport.migration', 'alpine', 'touch=1']);
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(JSON.stringify(await importStatus(cluster, 'alpine')), before);
  });

  test('an import deleted while its disks are exported leaves nothing behind; re-created, it works', async () => {
    await apply(vmImport('deleted', { virtualMachineName: 'big-one', forcePowerOff: true }));
    // Deleted once its export has started (sourceReady is brief: a poll may see the phase after it).
    const deadline = Date.now() + 300_000;
    for (;;) {
      const status = await importStatus(cluster, 'deleted');
      if (status.diskImportStatus?.length) break;
      assert.ok(Date.now() < deadline, `its export starts: ${JSON.stringify(status)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await cluster.kubectl(['delete', 'virtualmachineimport.migration', 'deleted', '--timeout=120s']);
    const left = await cluster.kubectl([
      'get',
      'jobs,deployments,services,pvc,virtualmachineimages.harvesterhci.io,virtualmachines.kubevirt.io',
      '-o',
      'name',
    ]);
    assert.doesNotMatch(left, /deleted/, 'nothing of the deleted import is left');
    const volumes = join(stateDir, 'volumes', 'default');
    const dirs = existsSync(volumes) ? await readdir(volumes) : [];
    assert.deepEqual(
      dirs.filter((d) => d.startsWith('deleted')),
      [],
      'no scratch left on disk',
    );

    await apply(vmImport('deleted', { virtualMachineName: 'big-one', forcePowerOff: true }));
    const statuses = await waitForImports(cluster, ['deleted'], 300_000);
    assert.equal(statuses.deleted!.importStatus, 'virtualMachineRunning', await lastMessage('deleted'));
  });

  test(`storage classes on Harvester ${DEFAULT_HARVESTER_VERSION}: the third-party class through CDI, Longhorn v2, a failed image resubmitted up to the limit, cleanup after the VM exists`, async () => {
    await storageClassCases(cluster, stateDir);
  });
});
