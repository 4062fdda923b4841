// verify-source and preflight against the embedded API server and a real vcsim.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  API_VERSION,
  type SourceStatus,
  type VirtualMachineImportStatus,
} from '../../functions/shared/api/index.ts';
import { phaseFunction } from '../../functions/shared/phase-function.ts';
import { preflightStep } from '../../functions/preflight/index.ts';
import { createHandler as verifySourceHandler } from '../../functions/verify-source/index.ts';
import type { Obj } from '../../functions/shared/kube/client.ts';
import { startVcsim, type Vcsim } from '../../local-cluster/simulators/vcsim/index.ts';
import { apiServerEvent, noContext, startTestApi, type TestApi } from '../support/cluster-api.ts';

let api: TestApi;
let vcsim: Vcsim;

const source = (name: string, dc: string): Obj => ({
  apiVersion: API_VERSION,
  kind: 'VmwareSource',
  metadata: { name, namespace: 'default' },
  spec: { endpoint: vcsim.url, dc, credentials: { name: 'vsphere-credentials', namespace: 'default' } },
});

const importOf = (name: string, spec: Record<string, unknown>): Obj => ({
  apiVersion: API_VERSION,
  kind: 'VirtualMachineImport',
  metadata: { name, namespace: 'default' },
  spec: {
    virtualMachineName: 'alpine-export-test',
    folder: 'Discovered VM',
    networkMapping: [{ sourceNetwork: 'dvSwitch 1', destinationNetwork: 'default/vlan1' }],
    sourceCluster: { name: 'vcsim', namespace: 'default', kind: 'VmwareSource', apiVersion: API_VERSION },
    ...spec,
  },
});

async function verify(name: string) {
  const obj = await api.kube.get(API_VERSION, 'VmwareSource', 'default', name);
  await verifySourceHandler({ kube: api.kube })(noContext, apiServerEvent(obj));
  return (await api.kube.get(API_VERSION, 'VmwareSource', 'default', name)).status as SourceStatus;
}

async function preflight(name: string) {
  const obj = await api.kube.get(API_VERSION, 'VirtualMachineImport', 'default', name);
  await phaseFunction('preflight', preflightStep, { kube: api.kube })(noContext, apiServerEvent(obj));
  return (await api.kube.get(API_VERSION, 'VirtualMachineImport', 'default', name))
    .status as VirtualMachineImportStatus;
}

describe('verify-source and preflight on the embedded API server with vcsim', () => {
  before(async () => {
    api = await startTestApi();
    vcsim = await startVcsim({ workDir: await mkdtemp(join(tmpdir(), 'vcsim-')) });
    await api.kube.create({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'vsphere-credentials', namespace: 'default' },
      stringData: { username: vcsim.username, password: vcsim.password, caCert: vcsim.caCertPem },
    });
    for (const name of ['vlan1', 'vlan2'])
      await api.kube.create({
        apiVersion: 'k8s.cni.cncf.io/v1',
        kind: 'NetworkAttachmentDefinition',
        metadata: { name, namespace: 'default' },
        spec: { config: '{}' },
      });
  });
  after(async () => {
    await vcsim?.stop();
    await api?.close();
  });

  test('a source with the right datacenter becomes clusterReady; kubectl shows it', async () => {
    await api.kube.create(source('vcsim', vcsim.datacenter));
    const status = await verify('vcsim');
    assert.equal(status.status, 'clusterReady');
    assert.equal(status.conditions?.find((c) => c.type === 'ClusterReady')?.status, 'True');
    const out = await api.kubectl('get', 'vmwaresource.migration', 'vcsim');
    assert.match(out, /NAME\s+STATUS\s+AGE\n.*vcsim\s+clusterReady/);
  });

  test('a wrong datacenter gives clusterNotReady with the reason and a message naming it', async () => {
    await api.kube.create(source('wrong-dc', 'NoSuchDC'));
    const status = await verify('wrong-dc');
    assert.equal(status.status, 'clusterNotReady');
    const error = status.conditions?.find((c) => c.type === 'ClusterError');
    assert.equal(error?.status, 'True');
    assert.match(error?.message ?? '', /NoSuchDC/);
    assert.doesNotMatch(JSON.stringify(status), new RegExp(vcsim.password));
  });

  test('a valid import passes preflight; a duplicate event changes nothing', async () => {
    await api.kube.create(importOf('ok', {}));
    const status = await preflight('ok');
    assert.equal(status.importStatus, 'virtualMachineImportValid');
    const condition = status.importConditions?.find((c) => c.type === 'VirtualMachineImportValid');
    assert.equal(condition?.reason, 'PreflightPassed');
    const again = await preflight('ok');
    assert.deepEqual(again, status);
  });

  test('unknown storage class and unknown destination network are invalid with a message', async () => {
    await api.kube.create(importOf('bad-sc', { storageClass: 'nope' }));
    const sc = await preflight('bad-sc');
    assert.equal(sc.importStatus, 'virtualMachineImportInvalid');
    assert.match(sc.importConditions?.[0]?.message ?? '', /StorageClass "nope"/);
    await api.kube.create(
      importOf('bad-net', {
        networkMapping: [{ sourceNetwork: 'dvSwitch 1', destinationNetwork: 'default/vlan9' }],
      }),
    );
    const net = await preflight('bad-net');
    assert.equal(net.importStatus, 'virtualMachineImportInvalid');
    assert.equal(net.importConditions?.[0]?.reason, 'DestinationNetworkNotFound');
  });

  test('a missing source VM and a missing source network are invalid with the source client message', async () => {
    await api.kube.create(importOf('no-vm', { virtualMachineName: 'no-such-vm' }));
    const vm = await preflight('no-vm');
    assert.equal(vm.importStatus, 'virtualMachineImportInvalid');
    assert.match(vm.importConditions?.[0]?.message ?? '', /no-such-vm/);
    await api.kube.create(
      importOf('no-net', {
        networkMapping: [{ sourceNetwork: 'dvSwitch 9', destinationNetwork: 'default/vlan1' }],
      }),
    );
    const net = await preflight('no-net');
    assert.equal(net.importStatus, 'virtualMachineImportInvalid');
    assert.match(net.importConditions?.[0]?.message ?? '', /dvSwitch 9/);
  });

  test('a source that is not ready keeps the import waiting, it does not fail it', async () => {
    await api.kube.create(
      importOf('waits', {
        sourceCluster: {
          name: 'wrong-dc',
          namespace: 'default',
          kind: 'vmwaresource',
          apiVersion: API_VERSION,
        },
      }),
    );
    const status = await preflight('waits');
    assert.equal(status.importStatus ?? '', '');
    const condition = status.importConditions?.find((c) => c.type === 'VirtualMachineImportValid');
    assert.equal(condition?.status, 'Unknown');
    assert.equal(condition?.reason, 'SourceNotReady');
    assert.match(condition?.message ?? '', /NoSuchDC/);
  });

  test('a mistyped source kind is invalid', async () => {
    await api.kube.create(
      importOf('bad-kind', {
        sourceCluster: { name: 'vcsim', namespace: 'default', kind: 'VmwareSrc', apiVersion: API_VERSION },
      }),
    );
    const status = await preflight('bad-kind');
    assert.equal(status.importStatus, 'virtualMachineImportInvalid');
    assert.equal(status.importConditions?.[0]?.reason, 'UnsupportedSourceKind');
  });
});
