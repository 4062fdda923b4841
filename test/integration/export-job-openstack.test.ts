// An OpenStack import through the exporter program: os-stop polled until SHUTOFF, then the
// volume-based export (snapshot → volume → image → download) into a sparse raw image with the
// simulator's volume content; export-status → disksExported.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_VERSION, type VirtualMachineImportStatus } from '../../functions/shared/api/index.ts';
import { phaseFunction } from '../../functions/shared/phase-function.ts';
import type { Obj } from '../../functions/shared/kube/client.ts';
import { exportStatusStep } from '../../functions/export-status/index.ts';
import { writeDiskContent } from '../../local-cluster/simulators/disk-content.ts';
import type { Inventory } from '../../local-cluster/simulators/inventory.ts';
import {
  startOpenstackSimulator,
  type OpenstackSimulator,
} from '../../local-cluster/simulators/openstack/index.ts';
import { apiServerEvent, noContext, startTestApi, type TestApi } from '../support/cluster-api.ts';
import { createSourceReadyImport, runExporterProgram } from '../support/export-job.ts';

const GiB = 1024 ** 3;
const ROOT_VOLUME = { sizeMiB: 3, bootable: true, allocatedPercent: 50, seed: 41, imageProperties: {} };
const inventory: Inventory = {
  openstack: {
    region: 'RegionOne',
    networks: ['shared'],
    servers: [
      {
        name: 'web',
        id: 'bbbbbbbb-2222-4222-8222-000000000001',
        status: 'ACTIVE',
        flavor: { vcpus: 2, ramMiB: 512 },
        // One volume: Cinder volumes are whole GiB, each costs a 1 GiB (mostly zero) download.
        volumes: [ROOT_VOLUME],
        bootFromImage: false,
        ports: [{ network: 'shared', mac: 'fa:16:3e:00:00:09' }],
      },
    ],
  },
} as Inventory;

let api: TestApi;
let sim: OpenstackSimulator;
let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'export-openstack-'));
  [api, sim] = await Promise.all([
    startTestApi(),
    startOpenstackSimulator({ inventory, workDir: join(root, 'sim') }),
  ]);
  await api.kube.create({
    apiVersion: API_VERSION,
    kind: 'OpenstackSource',
    metadata: { name: 'devstack', namespace: 'default' },
    spec: {
      endpoint: sim.url,
      region: sim.region,
      credentials: { name: 'os-credentials' },
      uploadImageRetryDelay: 1,
    },
  });
});

after(async () => {
  await sim?.stop();
  await api?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

test('OpenStack: os-stop until SHUTOFF, the volume exported with the source content, disksExported', async () => {
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
  const scratch = join(root, 'scratch');
  await mkdir(scratch);
  const run = await runExporterProgram(api, vmImport, { scratch, credentials });
  assert.equal(run.exitCode, 0, run.stdout + run.stderr);
  if (process.env.DEBUG_EXPORT) console.log(run.stdout, run.stderr);
  assert.doesNotMatch(run.stdout + run.stderr, new RegExp(sim.password));
  let status = (await api.kube.get<Obj>(API_VERSION, 'VirtualMachineImport', 'default', 'web'))
    .status as VirtualMachineImportStatus;
  assert.deepEqual(
    status.importConditions?.map((c) => [c.type, c.reason]),
    [
      ['VMShutdownGuest', 'StopRequested'],
      ['VMPoweredOff', 'PoweredOff'],
      ['GuestOperatingSystem', 'VirtioDrivers'],
      ['VMExported', 'DisksExported'],
    ],
  );
  assert.deepEqual(
    status.diskImportStatus?.map((d) => [d.diskName, d.diskSize, d.progress?.phase]),
    [
      // Cinder sizes volumes in whole GiB: the image has the volume's size, sparse beyond the data.
      ['disk-0.img', GiB, 'exported'],
    ],
  );
  for (const [i, volume] of [ROOT_VOLUME].entries()) {
    const expected = join(root, `expected-${i}.raw`);
    await writeDiskContent(expected, volume);
    // Same content; qemu-img compare requires the part beyond the shorter image to be zeros.
    await execa('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', expected, join(scratch, `disk-${i}.img`)]);
  }

  await phaseFunction('export-status', exportStatusStep, { kube: api.kube })(
    noContext,
    apiServerEvent(await api.kube.get<Obj>(API_VERSION, 'VirtualMachineImport', 'default', 'web')),
  );
  status = (await api.kube.get<Obj>(API_VERSION, 'VirtualMachineImport', 'default', 'web'))
    .status as VirtualMachineImportStatus;
  assert.equal(status.importStatus, 'disksExported');
});
