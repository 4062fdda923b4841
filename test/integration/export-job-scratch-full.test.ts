// The scratch volume fills while the exporter writes the disks (here: another writer took the
// space of a real ext4 volume, as the local cluster's volumes are): the export ends in a terminal
// ScratchVolumeFull that says what to do, the program exits 0 (no Job retry loop), and
// export-status fails the import with it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_VERSION, type VirtualMachineImportStatus } from '../../functions/shared/api/index.ts';
import { phaseFunction } from '../../functions/shared/phase-function.ts';
import type { Obj } from '../../functions/shared/kube/client.ts';
import { exportStatusStep } from '../../functions/export-status/index.ts';
import type { Inventory } from '../../local-cluster/simulators/inventory.ts';
import {
  startOpenstackSimulator,
  type OpenstackSimulator,
} from '../../local-cluster/simulators/openstack/index.ts';
import {
  createVolume,
  removeVolume,
  type VolumeLocation,
} from '../../local-cluster/runtime/storage/volume-backing.ts';
import { apiServerEvent, noContext, startTestApi, type TestApi } from '../support/cluster-api.ts';
import { createSourceReadyImport, runExporterProgram } from '../support/export-job.ts';
import { fillVolume } from '../support/fill-volume.ts';

const MiB = 1024 ** 2;
const inventory: Inventory = {
  openstack: {
    region: 'RegionOne',
    networks: ['shared'],
    servers: [
      {
        name: 'web',
        id: 'bbbbbbbb-2222-4222-8222-000000000002',
        status: 'ACTIVE',
        flavor: { vcpus: 1, ramMiB: 512 },
        volumes: [{ sizeMiB: 8, bootable: true, allocatedPercent: 100, seed: 7, imageProperties: {} }],
        bootFromImage: false,
        ports: [{ network: 'shared', mac: 'fa:16:3e:00:00:0a' }],
      },
    ],
  },
} as Inventory;

let api: TestApi;
let sim: OpenstackSimulator;
let root: string;
let volume: VolumeLocation;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'export-scratch-full-'));
  [api, sim] = await Promise.all([
    startTestApi(),
    startOpenstackSimulator({ inventory, workDir: join(root, 'sim') }),
  ]);
  await api.kube.create({
    apiVersion: API_VERSION,
    kind: 'OpenstackSource',
    metadata: { name: 'devstack', namespace: 'default' },
    spec: { endpoint: sim.url, region: sim.region, credentials: { name: 'os-credentials' } },
  });
  volume = {
    volumesDir: join(root, 'volumes'),
    backingDir: join(root, 'backing'),
    namespace: 'default',
    claim: 'scratch',
  };
  // A real ext4 file system of 64 MiB, as the local cluster gives a Filesystem PVC.
  await createVolume(volume, 'uid-1', 'Filesystem', 64 * MiB);
});

after(async () => {
  if (volume) await removeVolume(volume).catch(() => undefined);
  await sim?.stop();
  await api?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

test('OpenStack: the scratch volume fills mid-download → terminal ScratchVolumeFull, exit 0, nothing retried', async () => {
  const vmImport = await createSourceReadyImport(api, 'web', {
    virtualMachineName: 'web',
    sourceCluster: { name: 'devstack', kind: 'OpenstackSource', apiVersion: API_VERSION },
  });
  const credentials = join(root, 'credentials');
  await mkdir(credentials);
  const secret = {
    username: sim.username,
    password: sim.password,
    project_name: sim.projectName,
    domain_name: sim.domainName,
    ca_cert: sim.caCertPem ?? '',
  };
  for (const [k, v] of Object.entries(secret)) await writeFile(join(credentials, k), v);
  const scratch = join(volume.volumesDir, volume.namespace, volume.claim);
  // Another writer leaves 2 MiB; the volume's 8 MiB of data do not fit.
  await fillVolume(scratch, 2 * MiB);

  const run = await runExporterProgram(api, vmImport, { scratch, credentials });
  assert.equal(
    run.exitCode,
    0,
    `a full volume is recorded, not retried by the Job:\n${run.stdout}${run.stderr}`,
  );
  let status = (await api.kube.get<Obj>(API_VERSION, 'VirtualMachineImport', 'default', 'web'))
    .status as VirtualMachineImportStatus;
  const failed = status.importConditions?.find((c) => c.type === 'VMExportFailed');
  assert.equal(failed?.reason, 'ScratchVolumeFull', JSON.stringify(status.importConditions));
  assert.match(failed?.message ?? '', /scratch volume is full.*SCRATCH_SIZE_FACTOR/s);
  assert.doesNotMatch(failed?.message ?? '', new RegExp(scratch));
  // The partial disk is gone; only the other writer's file stays.
  assert.deepEqual(await readdir(scratch).then((n) => n.filter((f) => f.startsWith('disk-'))), []);

  await phaseFunction('export-status', exportStatusStep, { kube: api.kube })(
    noContext,
    apiServerEvent(await api.kube.get<Obj>(API_VERSION, 'VirtualMachineImport', 'default', 'web')),
  );
  status = (await api.kube.get<Obj>(API_VERSION, 'VirtualMachineImport', 'default', 'web'))
    .status as VirtualMachineImportStatus;
  assert.equal(status.importStatus, 'VMMigrationFailed');
  assert.match(status.importConditions?.at(-1)?.message ?? '', /scratch volume is full/);
  // A failed import keeps nothing but itself: the source VM description the exporter published
  // is gone with the (here absent) Job, disk server and scratch claim.
  assert.equal(await api.kube.find('v1', 'ConfigMap', 'default', 'web-source-vm'), undefined);
});
