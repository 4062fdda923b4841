// Tenancy (issue 22 row 1): a source's credentials Secret must live in the source's namespace;
// an import may use a source of another namespace only if the source lists the import's
// namespace in its allowed-import-namespaces annotation, and never gets its Secret copied.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { API_VERSION } from '../../functions/shared/api/index.ts';
import { phaseFunction } from '../../functions/shared/phase-function.ts';
import type { Obj } from '../../functions/shared/kube/client.ts';
import { exportStep } from '../../functions/export/index.ts';
import { preflightStep } from '../../functions/preflight/index.ts';
import { createHandler as verifySourceHandler } from '../../functions/verify-source/index.ts';
import { apiServerEvent, noContext, startTestApi, type TestApi } from '../support/cluster-api.ts';

let api: TestApi;
let ova: Server;
let ovaUrl: string;
const authorizations: string[] = [];

async function ensureNamespace(name: string) {
  await api.kube.ensure({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
}

before(async () => {
  api = await startTestApi();
  ova = createServer((req, res) => {
    if (req.headers.authorization) authorizations.push(req.headers.authorization);
    res.writeHead(200, { 'Content-Length': '10' }).end(req.method === 'HEAD' ? undefined : '0123456789');
  });
  await new Promise<void>((r) => ova.listen(0, '127.0.0.1', r));
  ovaUrl = `http://127.0.0.1:${(ova.address() as AddressInfo).port}/vm.ova`;
  for (const ns of ['team-a', 'team-b', 'team-c']) await ensureNamespace(ns);
  // team-b's Secret, which team-a must not be able to use.
  await api.kube.create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'b-creds', namespace: 'team-b' },
    stringData: { username: 'b-user', password: 'b-password' },
  });
});
after(async () => {
  await new Promise<void>((r) => ova.close(() => r()));
  await api?.close();
});

const source = (
  name: string,
  namespace: string,
  extra: Record<string, unknown> = {},
  annotations?: Record<string, string>,
) => ({
  apiVersion: API_VERSION,
  kind: 'OvaSource',
  metadata: { name, namespace, ...(annotations ? { annotations } : {}) },
  spec: { url: ovaUrl, ...extra },
});

async function importOf(name: string, namespace: string, src: { name: string; namespace: string }) {
  await api.kube.create({
    apiVersion: API_VERSION,
    kind: 'VirtualMachineImport',
    metadata: { name, namespace },
    spec: {
      virtualMachineName: name,
      sourceCluster: { ...src, kind: 'OvaSource', apiVersion: API_VERSION },
    },
  });
  return api.kube.get<Obj>(API_VERSION, 'VirtualMachineImport', namespace, name);
}

const statusOf = async (kind: string, namespace: string, name: string) =>
  ((await api.kube.get<Obj>(API_VERSION, kind, namespace, name)) as any).status;

describe('tenancy', () => {
  test("a source naming another namespace's Secret is not verified with it and stays clusterNotReady", async () => {
    await api.kube.create(
      source('steal', 'team-a', { credentials: { name: 'b-creds', namespace: 'team-b' } }),
    );
    const obj = await api.kube.get<Obj>(API_VERSION, 'OvaSource', 'team-a', 'steal');
    await verifySourceHandler({ kube: api.kube })(noContext, apiServerEvent(obj));
    assert.deepEqual(authorizations, [], "team-b's credentials were sent to team-a's URL");
    const status = await statusOf('OvaSource', 'team-a', 'steal');
    assert.equal(status?.status, 'clusterNotReady');
    assert.equal(status?.conditions?.at(-1)?.reason, 'CredentialsNamespaceNotAllowed');
  });

  test("an import of such a source is invalid and no copy of the Secret appears in the import's namespace", async () => {
    const vmImport = await importOf('steal-import', 'team-a', { name: 'steal', namespace: 'team-a' });
    await phaseFunction('preflight', preflightStep, { kube: api.kube })(noContext, apiServerEvent(vmImport));
    const status = await statusOf('VirtualMachineImport', 'team-a', 'steal-import');
    assert.equal(status?.importStatus, 'virtualMachineImportInvalid');
    assert.match(JSON.stringify(status?.importConditions), /CredentialsNamespaceNotAllowed/);
    // Even driven straight to the export step (as a lost event or a stale status could):
    const latest = await api.kube.get<Obj>(API_VERSION, 'VirtualMachineImport', 'team-a', 'steal-import');
    await api.kube.replaceStatus(
      { ...latest, status: { importStatus: 'sourceReady' } },
      'virtualmachineimports',
    );
    await phaseFunction('export', exportStep, { kube: api.kube })(
      noContext,
      apiServerEvent(await api.kube.get<Obj>(API_VERSION, 'VirtualMachineImport', 'team-a', 'steal-import')),
    );
    const secrets = await api.kube.list<Obj>('v1', 'Secret', 'team-a');
    assert.deepEqual(
      secrets.filter((s) =>
        JSON.stringify(s.data ?? {}).includes(Buffer.from('b-password').toString('base64')),
      ),
      [],
      "team-b's Secret was copied into team-a",
    );
    assert.equal(await api.kube.find('batch/v1', 'Job', 'team-a', 'steal-import-export'), undefined);
  });

  test('an import may not use a source of another namespace that does not allow it', async () => {
    await api.kube.create(source('b-private', 'team-b'));
    const vmImport = await importOf('uses-private', 'team-a', { name: 'b-private', namespace: 'team-b' });
    await phaseFunction('preflight', preflightStep, { kube: api.kube })(noContext, apiServerEvent(vmImport));
    const status = await statusOf('VirtualMachineImport', 'team-a', 'uses-private');
    assert.equal(status?.importStatus, 'virtualMachineImportInvalid');
    assert.match(JSON.stringify(status?.importConditions), /SourceNotShared/);
  });

  test('a source that lists the namespace may be used from it, one that lists another may not', async () => {
    await api.kube.create(
      source(
        'b-shared',
        'team-b',
        {},
        { 'migration.harvesterhci.io/allowed-import-namespaces': 'team-c, team-a' },
      ),
    );
    const ok = await importOf('uses-shared', 'team-a', { name: 'b-shared', namespace: 'team-b' });
    await phaseFunction('preflight', preflightStep, { kube: api.kube })(noContext, apiServerEvent(ok));
    assert.doesNotMatch(
      JSON.stringify(
        (await statusOf('VirtualMachineImport', 'team-a', 'uses-shared'))?.importConditions ?? [],
      ),
      /SourceNotShared/,
    );
    await api.kube.create(
      source('b-shared-c', 'team-b', {}, { 'migration.harvesterhci.io/allowed-import-namespaces': 'team-c' }),
    );
    const no = await importOf('uses-shared-c', 'team-a', { name: 'b-shared-c', namespace: 'team-b' });
    await phaseFunction('preflight', preflightStep, { kube: api.kube })(noContext, apiServerEvent(no));
    assert.match(
      JSON.stringify((await statusOf('VirtualMachineImport', 'team-a', 'uses-shared-c'))?.importConditions),
      /SourceNotShared/,
    );
  });
});
