// OVAs as real tools write them, end to end on the local cluster: a two-VM vApp imported twice
// (one import per VM, selected by virtualMachineName), a gzip-compressed OVA, a chunked OVA and an
// OVA carrying a qcow2 disk. Each import must reach virtualMachineRunning with images
// byte-identical to the source disks. The cluster plays the oldest Harvester vm-import supports.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { startLocalCluster, type LocalCluster } from '../../local-cluster/cluster.ts';
import { sameDisk, waitForImports } from '../support/e2e.ts';
import { STORAGE_CLASS_CASE_OVAS, storageClassCases } from '../support/storage-class-cases.ts';

/** The oldest Harvester vm-import supports (import-edge-cases plays the newest). */
const OLDEST_HARVESTER = 'v1.2.0';

const disk = (seed: number, controller: string) => ({ sizeMiB: 24, controller, allocatedPercent: 50, seed });
const vm = (seed: number, controller = 'sata') => ({
  cpus: 1,
  memoryMiB: 128,
  disks: [disk(seed, controller)],
});

const INVENTORY = {
  ova: [
    {
      name: 'two-tier.ova',
      vms: [
        { name: 'web', ...vm(61) },
        { name: 'db', ...vm(62, 'pvscsi') },
      ],
    },
    { name: 'gzipped.ova', vm: vm(63), compression: 'gzip' },
    { name: 'chunked.ova', vm: vm(64), chunkSizeMiB: 4 },
    { name: 'kvm-qcow2.ova', vm: vm(65), diskFormat: 'qcow2' },
    ...STORAGE_CLASS_CASE_OVAS,
  ],
};

/** Import name → [OVA file, virtualMachineName, the VM's source directory under sources/ova]. */
const IMPORTS: Record<string, [string, string]> = {
  'vapp-web': ['two-tier.ova', 'web'],
  'vapp-db': ['two-tier.ova', 'db'],
  gzipped: ['gzipped.ova', 'gzipped'],
  chunked: ['chunked.ova', 'chunked'],
  'kvm-qcow2': ['kvm-qcow2.ova', 'kvm-qcow2'],
};

let cluster: LocalCluster;
let stateDir: string;

function manifests(baseUrl: string, caCert: string): string {
  const docs: object[] = [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'ova-ca', namespace: 'default' },
      stringData: { 'ca.crt': caCert },
    },
  ];
  for (const file of new Set(Object.values(IMPORTS).map(([f]) => f))) {
    docs.push({
      apiVersion: 'migration.harvesterhci.io/v1beta1',
      kind: 'OvaSource',
      metadata: { name: file.replace(/\.ova$/, ''), namespace: 'default' },
      spec: { url: `${baseUrl}/${file}`, credentials: { name: 'ova-ca', namespace: 'default' } },
    });
  }
  for (const [name, [file, vmName]] of Object.entries(IMPORTS)) {
    docs.push({
      apiVersion: 'migration.harvesterhci.io/v1beta1',
      kind: 'VirtualMachineImport',
      metadata: { name, namespace: 'default' },
      spec: {
        virtualMachineName: vmName,
        sourceCluster: {
          name: file.replace(/\.ova$/, ''),
          namespace: 'default',
          kind: 'OvaSource',
          apiVersion: 'migration.harvesterhci.io/v1beta1',
        },
      },
    });
  }
  return docs.map((d) => stringify(d)).join('---\n');
}

describe('OVA vApps, gzip, chunks and qcow2 end to end on the local cluster', () => {
  before(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'vm-import-e2e-ova-'));
    const inventoryFile = join(stateDir, 'inventory.yaml');
    await writeFile(inventoryFile, stringify(INVENTORY));
    cluster = await startLocalCluster({
      stateDir,
      inventoryFile,
      imageRetryDelayMs: 3000,
      harvesterVersion: OLDEST_HARVESTER,
    });
  });
  after(async () => {
    await cluster?.stop();
    if (stateDir && !process.env.KEEP_E2E_STATE) await rm(stateDir, { recursive: true, force: true });
    else if (stateDir) console.log(`# local cluster state and logs kept in ${stateDir}`);
  });

  test('five imports of four OVAs reach virtualMachineRunning with identical disks', async () => {
    const ova = cluster.endpoints.ova;
    assert.ok(ova?.caCert, 'the OVA server runs with TLS');
    await cluster.kubectl(['apply', '-f', '-'], manifests(ova.baseUrl, ova.caCert));
    const names = Object.keys(IMPORTS);
    const started = Date.now();
    const statuses = await waitForImports(cluster, names, 900_000);
    console.log(`# ${names.length} OVA imports: ${((Date.now() - started) / 1000).toFixed(1)} s to terminal`);
    for (const name of names) {
      const s = statuses[name]!;
      assert.equal(
        s.importStatus,
        'virtualMachineRunning',
        `${name}: ${JSON.stringify(s.importConditions?.at(-1))}`,
      );
    }
    assert.deepEqual(
      names.map((n) => statuses[n]!.importedVirtualMachineName),
      ['web', 'db', 'gzipped', 'chunked', 'kvm-qcow2'],
    );
    for (const [name, [, vmName]] of Object.entries(IMPORTS)) {
      const disks = statuses[name]!.diskImportStatus ?? [];
      assert.equal(disks.length, 1, `${name} has its VM's one disk`);
      const image = join(stateDir, 'harvester', 'images', 'default', `${disks[0]!.VirtualMachineImage}.raw`);
      const source = join(stateDir, 'sources', 'ova', vmName, 'disk-0.raw');
      assert.ok(await sameDisk(image, source), `${name}: image identical to ${source}`);
    }
  });

  test(`storage classes on Harvester ${OLDEST_HARVESTER}: a third-party class refused, Longhorn v2 as a backing image, a failed image resubmitted up to the limit, cleanup after the VM exists`, async () => {
    await storageClassCases(cluster, stateDir);
  });
});
