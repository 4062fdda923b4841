// An OVA import through the export function (scratch sized from the OVA's Content-Length) and the
// exporter program (no power-off, one streaming pass, VM description from the OVF), then
// export-status. Real HTTP server, real qemu-img-built OVA.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_VERSION, type VirtualMachineImportStatus } from '../../functions/shared/api/index.ts';
import { phaseFunction } from '../../functions/shared/phase-function.ts';
import type { Obj } from '../../functions/shared/kube/client.ts';
import { exportStep } from '../../functions/export/index.ts';
import { exportStatusStep } from '../../functions/export-status/index.ts';
import { buildOva } from '../../local-cluster/simulators/ova/build-ova.ts';
import { startOvaServer, type OvaServer } from '../../local-cluster/simulators/ova/server.ts';
import { apiServerEvent, noContext, startTestApi, type TestApi } from '../support/cluster-api.ts';
import { createSourceReadyImport, runExporterProgram } from '../support/export-job.ts';

const MiB = 1024 * 1024;
let api: TestApi;
let server: OvaServer;
let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'export-ova-'));
  await buildOva({
    name: 'appliance.ova',
    outPath: join(root, 'serve', 'appliance.ova'),
    vm: {
      cpus: 2,
      memoryMiB: 256,
      firmware: 'bios',
      disks: [
        { sizeMiB: 3, controller: 'sata', allocatedPercent: 50, seed: 31 },
        { sizeMiB: 2, controller: 'pvscsi', allocatedPercent: 30, seed: 32 },
      ],
      nics: [{ network: 'VM Network', type: 'e1000' }],
    },
    opts: { rawDir: join(root, 'raw') },
  });
  [api, server] = await Promise.all([startTestApi(), startOvaServer({ dir: join(root, 'serve') })]);
  await api.kube.create({
    apiVersion: API_VERSION,
    kind: 'OvaSource',
    metadata: { name: 'ova', namespace: 'default' },
    spec: { url: `${server.baseUrl}/appliance.ova` },
  });
});

after(async () => {
  await server?.stop();
  await api?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

test('OVA: Job without a Secret volume, NotApplicable power-off, disks byte-identical, disksExported', async () => {
  const vmImport = await createSourceReadyImport(api, 'appliance', {
    virtualMachineName: 'appliance',
    sourceCluster: { name: 'ova', kind: 'OvaSource', apiVersion: API_VERSION },
  });

  await phaseFunction('export', exportStep, { kube: api.kube })(noContext, apiServerEvent(vmImport));
  const job = (await api.kube.get<Obj>('batch/v1', 'Job', 'default', 'appliance-export')) as any;
  assert.equal(
    job.spec.template.spec.volumes.some((v: any) => v.secret),
    false,
  );
  const size = (await stat(join(root, 'serve', 'appliance.ova'))).size;
  const pvc = (await api.kube.get<Obj>('v1', 'PersistentVolumeClaim', 'default', 'appliance-scratch')) as any;
  assert.equal(pvc.spec.resources.requests.storage, `${Math.ceil((2 * size * 1.1) / 1024 ** 3 + 1)}Gi`);
  let status = (await api.kube.get<Obj>(API_VERSION, 'VirtualMachineImport', 'default', 'appliance'))
    .status as VirtualMachineImportStatus;
  assert.match(status.importConditions?.[0]?.message ?? '', /2 x the OVA's size/);

  const scratch = join(root, 'scratch');
  await mkdir(scratch);
  const run = await runExporterProgram(api, vmImport, { scratch, credentials: join(root, 'no-credentials') });
  assert.equal(run.exitCode, 0, run.stdout + run.stderr);
  status = (await api.kube.get<Obj>(API_VERSION, 'VirtualMachineImport', 'default', 'appliance'))
    .status as VirtualMachineImportStatus;
  assert.deepEqual(
    status.importConditions?.filter((c) => c.type.startsWith('VM')).map((c) => [c.type, c.reason]),
    [
      ['VMPoweredOff', 'NotApplicable'],
      ['VMExported', 'DisksExported'],
    ],
  );
  assert.deepEqual(
    status.diskImportStatus?.map((d) => [d.diskName, d.diskSize, d.busType, d.progress?.phase]),
    [
      ['disk-0.img', 3 * MiB, 'sata', 'exported'],
      // PVSCSI of a guest whose OVF names no OS (otherGuest64): sata, the bus every guest boots from
      ['disk-1.img', 2 * MiB, 'sata', 'exported'],
    ],
  );
  assert.equal(status.guestOS?.family, 'unknown');
  assert.equal(status.guestOS?.id, 'otherGuest64');
  for (const i of [0, 1])
    assert.ok(
      (await readFile(join(scratch, `disk-${i}.img`))).equals(
        await readFile(join(root, 'raw', `disk-${i}.raw`)),
      ),
      `disk ${i}`,
    );
  const cm = (await api.kube.get<Obj>('v1', 'ConfigMap', 'default', 'appliance-source-vm')) as any;
  const vm = JSON.parse(cm.data['vm.json']);
  assert.deepEqual([vm.cpu.sockets * vm.cpu.cores, vm.memoryMiB, vm.disks.length], [2, 256, 2]);

  await phaseFunction('export-status', exportStatusStep, { kube: api.kube })(
    noContext,
    apiServerEvent(await api.kube.get<Obj>(API_VERSION, 'VirtualMachineImport', 'default', 'appliance')),
  );
  status = (await api.kube.get<Obj>(API_VERSION, 'VirtualMachineImport', 'default', 'appliance'))
    .status as VirtualMachineImportStatus;
  assert.equal(status.importStatus, 'disksExported');
});
