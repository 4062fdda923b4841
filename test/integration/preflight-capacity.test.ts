// The space check before the source is touched (functions/preflight/capacity.ts), on the embedded
// API server with vcsim: with Longhorn's Node objects published (this test plays Longhorn's node
// controller), an import whose target class has no room fails in preflight naming the class, the
// need and what is free, and the source VM is still powered on; with room it passes; without
// published capacity it passes with StorageCapacity=Unknown.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_VERSION, type VirtualMachineImportStatus } from '../../functions/shared/api/index.ts';
import { phaseFunction } from '../../functions/shared/phase-function.ts';
import type { Obj } from '../../functions/shared/kube/client.ts';
import { preflightStep } from '../../functions/preflight/index.ts';
import { thirdPartyCrdDir } from '../../local-cluster/components/crds.ts';
import { startVcsim, type Vcsim } from '../../local-cluster/simulators/vcsim/index.ts';
import {
  apiServerEvent,
  noContext,
  startTestApi,
  waitForCrdsServed,
  type TestApi,
} from '../support/cluster-api.ts';
import { vmwarePowerStateOf } from '../support/source-power.ts';

let api: TestApi;
let vcsim: Vcsim;
let root: string;
const GiB = 1024 ** 3;
// longhorn-manager's own Node CRD (not among the CRDs every test cluster serves: see sources.go)
const longhornCrd = async () => join(await thirdPartyCrdDir(), 'longhorn', 'nodes.longhorn.io.yaml');

const importOf = (name: string): Obj => ({
  apiVersion: API_VERSION,
  kind: 'VirtualMachineImport',
  metadata: { name, namespace: 'default' },
  spec: {
    virtualMachineName: 'big-vm',
    sourceCluster: { name: 'vcsim', namespace: 'default', kind: 'VmwareSource', apiVersion: API_VERSION },
  },
});

async function preflight(name: string) {
  const obj = await api.kube.get(API_VERSION, 'VirtualMachineImport', 'default', name);
  await phaseFunction('preflight', preflightStep, { kube: api.kube })(noContext, apiServerEvent(obj));
  return (await api.kube.get(API_VERSION, 'VirtualMachineImport', 'default', name))
    .status as VirtualMachineImportStatus;
}

/** A Longhorn Node with one disk, as longhorn-manager's node controller reports it. */
async function longhornNode(name: string, maximum: number, available: number, scheduled = 0) {
  const created = await api.kube.create<Obj>({
    apiVersion: 'longhorn.io/v1beta2',
    kind: 'Node',
    metadata: { name, namespace: 'longhorn-system' },
    spec: {
      name,
      allowScheduling: true,
      disks: { 'default-disk-1': { path: '/var/lib/longhorn', allowScheduling: true, storageReserved: 0 } },
    },
  });
  await api.kube.replaceStatus(
    {
      ...created,
      status: {
        diskStatus: {
          'default-disk-1': {
            storageMaximum: maximum,
            storageAvailable: available,
            storageScheduled: scheduled,
            conditions: [{ type: 'Schedulable', status: 'True' }],
          },
        },
      },
    },
    'nodes',
  );
}

describe('space check before any power-off', () => {
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'preflight-capacity-'));
    [api, vcsim] = await Promise.all([
      startTestApi(),
      startVcsim({
        workDir: join(root, 'vcsim'),
        inventory: {
          vmware: {
            datacenter: 'DC0',
            networks: [{ name: 'VM Network', type: 'standard' }],
            vms: [
              {
                name: 'big-vm',
                powerState: 'poweredOn',
                toolsRunning: true,
                shutdownSeconds: 0,
                guestId: 'otherLinux64Guest',
                cpus: 1,
                coresPerSocket: 1,
                memoryMiB: 64,
                firmware: 'bios',
                secureBoot: false,
                tpm: false,
                disks: [{ sizeMiB: 64, controller: 'pvscsi', allocatedPercent: 10, seed: 1 }],
                nics: [],
              },
            ],
          },
        },
      }),
    ]);
    await api.kube.create({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'vsphere-credentials', namespace: 'default' },
      stringData: { username: vcsim.username, password: vcsim.password, caCert: vcsim.caCertPem },
    });
    const source = await api.kube.create<Obj>({
      apiVersion: API_VERSION,
      kind: 'VmwareSource',
      metadata: { name: 'vcsim', namespace: 'default' },
      spec: {
        endpoint: vcsim.url,
        dc: 'DC0',
        credentials: { name: 'vsphere-credentials', namespace: 'default' },
      },
    });
    await api.kube.replaceStatus({ ...source, status: { status: 'clusterReady' } }, 'vmwaresources');
    await api.kube.create({
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: {
        name: 'harvester-longhorn',
        annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' },
      },
      provisioner: 'driver.longhorn.io',
      parameters: { numberOfReplicas: '3', staleReplicaTimeout: '30', migratable: 'true' },
    });
    await api.kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'longhorn-system' } });
  });
  after(async () => {
    await vcsim?.stop();
    await api?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  test('nothing published: the import goes on with StorageCapacity=Unknown saying so', async () => {
    await api.kube.create(importOf('unknown'));
    const status = await preflight('unknown');
    assert.equal(status.importStatus, 'virtualMachineImportValid');
    const capacity = status.importConditions?.find((c) => c.type === 'StorageCapacity');
    assert.deepEqual([capacity?.status, capacity?.reason], ['Unknown', 'CapacityUnknown']);
    assert.match(
      capacity?.message ?? '',
      /harvester-longhorn \(Longhorn\) is unknown: no nodes\.longhorn\.io/,
    );
  });

  test('Longhorn without room: preflight fails naming the class, the need and the free space; the source stays on', async () => {
    await api.kubectl('apply', '--server-side', '-f', await longhornCrd());
    await waitForCrdsServed(api.kubectl, 'nodes.longhorn.io');
    // 8 GiB disk, 2.5 GiB available: 2.5 - 25 % x 8 = 0.5 GiB schedulable
    await longhornNode('node-1', 8 * GiB, 2.5 * GiB);
    await api.kube.create(importOf('no-room'));
    const status = await preflight('no-room');
    assert.equal(status.importStatus, 'virtualMachineImportInvalid');
    const valid = status.importConditions?.find((c) => c.type === 'VirtualMachineImportValid');
    assert.equal(valid?.reason, 'InsufficientStorage');
    assert.match(
      valid?.message ?? '',
      /StorageClass harvester-longhorn \(Longhorn\) cannot hold the import: it needs [\d.]+ GiB/,
    );
    assert.match(valid?.message ?? '', /the Longhorn nodes can schedule 0\.50 GiB/);
    assert.match(valid?.message ?? '', /the source was not touched/);
    assert.equal(await vmwarePowerStateOf(vcsim, 'big-vm'), 'poweredOn');
  });

  test('Longhorn with room: preflight passes with StorageCapacity=True', async () => {
    await longhornNode('node-2', 200 * GiB, 200 * GiB);
    await api.kube.create(importOf('room'));
    const status = await preflight('room');
    assert.equal(status.importStatus, 'virtualMachineImportValid');
    const capacity = status.importConditions?.find((c) => c.type === 'StorageCapacity');
    assert.deepEqual([capacity?.status, capacity?.reason], ['True', 'CapacityAvailable']);
  });
});
