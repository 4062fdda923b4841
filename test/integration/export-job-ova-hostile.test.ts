// The export step and the export Job with hostile OVAs (issue 22 row 7): .vmdk members that the
// OVF does not use must not become disks in status (each would become a VirtualMachineImage).
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { API_VERSION, type VirtualMachineImportStatus } from '../../functions/shared/api/index.ts';
import { phaseFunction } from '../../functions/shared/phase-function.ts';
import type { Obj } from '../../functions/shared/kube/client.ts';
import { exportStep } from '../../functions/export/index.ts';
import { apiServerEvent, noContext, startTestApi, type TestApi } from '../support/cluster-api.ts';
import { createSourceReadyImport, runExporterProgram } from '../support/export-job.ts';
import { buildTar, hostileOvf, startBufferServer, type BufferServer } from '../support/hostile/ova.ts';
import { validVmdk } from '../support/hostile/vmdk.ts';

let api: TestApi;
let server: BufferServer;
let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'export-ova-hostile-'));
  [api, server] = await Promise.all([startTestApi(), startBufferServer()]);
});
after(async () => {
  await server?.close();
  await api?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

async function runExport(name: string, ova: Buffer): Promise<VirtualMachineImportStatus> {
  server.put(`${name}.ova`, ova);
  await api.kube.create({
    apiVersion: API_VERSION,
    kind: 'OvaSource',
    metadata: { name, namespace: 'default' },
    spec: { url: server.url(`${name}.ova`) },
  });
  const vmImport = await createSourceReadyImport(api, name, {
    virtualMachineName: name,
    sourceCluster: { name, kind: 'OvaSource', apiVersion: API_VERSION },
  });
  await phaseFunction('export', exportStep, { kube: api.kube })(noContext, apiServerEvent(vmImport));
  const scratch = join(root, `scratch-${name}`);
  await mkdir(scratch);
  const run = await runExporterProgram(api, vmImport, { scratch, credentials: join(root, 'no-credentials') });
  assert.equal(run.exitCode, 0, run.stdout + run.stderr);
  return (await api.kube.get<Obj>(API_VERSION, 'VirtualMachineImport', 'default', name))
    .status as VirtualMachineImportStatus;
}

test('row 7: unused .vmdk members before the OVF do not become disks in status', async () => {
  const vmdk = validVmdk();
  const ova = await buildTar([
    ...Array.from({ length: 5 }, (_, i) => ({ name: `unused-${i}.vmdk`, data: vmdk })),
    { name: 'vm.ovf', data: hostileOvf() },
    { name: 'disk1.vmdk', data: vmdk },
  ]);
  const status = await runExport('phantoms', ova);
  assert.deepEqual(
    status.diskImportStatus?.map((d) => [d.diskName, d.progress?.phase]),
    [['disk-0.img', 'exported']],
  );
});
