// The export Job's pod SIGKILLed mid-download (OpenStack): the killed exporter removes nothing, so
// its cloud temporaries (snapshot, volume, image) stay; the Job's next pod (the exporter program
// run again on the same scratch volume) removes them first, starts the disk over, and ends with a
// byte-identical disk, progress restarted from 0 and never above the disk's bytes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_VERSION, type VirtualMachineImportStatus } from '../../functions/shared/api/index.ts';
import type { Obj } from '../../functions/shared/kube/client.ts';
import { writeDiskContent } from '../../local-cluster/simulators/disk-content.ts';
import type { Inventory } from '../../local-cluster/simulators/inventory.ts';
import {
  startOpenstackSimulator,
  type OpenstackSimulator,
} from '../../local-cluster/simulators/openstack/index.ts';
import { startTestApi, type TestApi } from '../support/cluster-api.ts';
import { createSourceReadyImport, runExporterProgram } from '../support/export-job.ts';

const VOLUME = { sizeMiB: 24, bootable: true, allocatedPercent: 100, seed: 77, imageProperties: {} };
const inventory: Inventory = {
  openstack: {
    region: 'RegionOne',
    networks: ['shared'],
    servers: [
      {
        name: 'web',
        id: 'bbbbbbbb-2222-4222-8222-000000000003',
        status: 'ACTIVE',
        flavor: { vcpus: 1, ramMiB: 512 },
        volumes: [VOLUME],
        bootFromImage: false,
        ports: [{ network: 'shared', mac: 'fa:16:3e:00:00:0b' }],
      },
    ],
  },
} as Inventory;

let api: TestApi;
let sim: OpenstackSimulator;
let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'export-killed-'));
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
});

after(async () => {
  await sim?.stop();
  await api?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

const temporaries = () => ({
  snapshots: [...sim.model.snapshots.values()].map((s) => s.id),
  volumes: [...sim.model.volumes.values()].filter((v) => v.name.startsWith('vm-import-')).map((v) => v.id),
  images: [...sim.model.images.values()].filter((i) => i.name.startsWith('vm-import-')).map((i) => i.id),
});

test('OpenStack: exporter SIGKILLed mid-download; the next attempt removes its temporaries and exports the same bytes', async () => {
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
  const get = async () =>
    (await api.kube.get<Obj>(API_VERSION, 'VirtualMachineImport', 'default', 'web'))
      .status as VirtualMachineImportStatus;
  const env = { PROGRESS_INTERVAL_MS: '50' };

  // Attempt 1: killed once its progress shows bytes of the disk arriving.
  const first = runExporterProgram(api, vmImport, { scratch, credentials }, env);
  let killedAt = 0;
  const deadline = Date.now() + 120_000;
  while (!killedAt && Date.now() < deadline) {
    const done = (await get()).diskImportStatus?.[0]?.progress?.bytesDone ?? 0;
    if (done > 0) {
      first.kill('SIGKILL');
      killedAt = done;
    } else await new Promise((r) => setTimeout(r, 20));
  }
  const killed = await first;
  assert.ok(killedAt > 0, `the first attempt never reported bytes:\n${killed.stdout}${killed.stderr}`);
  assert.equal(killed.signal, 'SIGKILL', 'killed, not finished');
  const left = temporaries();
  assert.ok(
    left.snapshots.length + left.volumes.length + left.images.length > 0,
    'the kill left temporaries',
  );

  // Attempt 2: the Job's next pod, same scratch volume.
  const second = await runExporterProgram(api, vmImport, { scratch, credentials }, env);
  assert.equal(second.exitCode, 0, second.stdout + second.stderr);
  assert.match(second.stdout + second.stderr, /removed (snapshot|volume|image)/);
  assert.deepEqual(temporaries(), { snapshots: [], volumes: [], images: [] });
  const status = await get();
  assert.equal(status.importConditions?.find((c) => c.type === 'VMExported')?.status, 'True');
  const disk = status.diskImportStatus?.[0];
  assert.equal(disk?.progress?.phase, 'exported');
  assert.ok((disk?.progress?.bytesDone ?? 0) <= (disk?.progress?.bytesTotal ?? 0), 'never double-counted');
  assert.deepEqual((await readdir(scratch)).sort(), ['disk-0.img']);
  const expected = join(root, 'expected.raw');
  await writeDiskContent(expected, VOLUME);
  await execa('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', expected, join(scratch, 'disk-0.img')]);
  console.log(
    `# killed at ${(killedAt / 2 ** 20).toFixed(1)} MiB of the disk; the retry downloaded it whole again (no resume)`,
  );
});
