// What used to happen silently now shows in the import: OpenStack's "forcePowerOff is ignored"
// warning from preflight, and a source deleted between preflight and sanitize. Each is a
// condition with a reason and a message, and a Warning Event, written once (not on every event).
import type { FunctionName } from '../../events/routing.ts';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_VERSION, type VirtualMachineImportStatus } from '../../functions/shared/api/index.ts';
import { phaseFunction, type ImportStep } from '../../functions/shared/phase-function.ts';
import type { Obj } from '../../functions/shared/kube/client.ts';
import { preflightStep } from '../../functions/preflight/index.ts';
import { sanitizeStep } from '../../functions/sanitize/index.ts';
import {
  startOpenstackSimulator,
  type OpenstackSimulator,
} from '../../local-cluster/simulators/openstack/index.ts';
import { apiServerEvent, noContext, startTestApi, type TestApi } from '../support/cluster-api.ts';
import { OPENSTACK_TEST_INVENTORY } from '../support/openstack.ts';

let api: TestApi;
let sim: OpenstackSimulator;
let root: string;
const NS = 'default';

const getImport = (name: string) => api.kube.get<Obj>(API_VERSION, 'VirtualMachineImport', NS, name);
/** The function each step belongs to: the frame applies that function's phase guard. */
const FUNCTION_OF = new Map<ImportStep, FunctionName>([
  [preflightStep, 'preflight'],
  [sanitizeStep, 'sanitize'],
]);

async function run(step: ImportStep, name: string) {
  await phaseFunction(FUNCTION_OF.get(step)!, step, { kube: api.kube })(
    noContext,
    apiServerEvent(await getImport(name)),
  );
  return (await getImport(name)).status as VirtualMachineImportStatus;
}
const eventsOf = async (name: string) =>
  (await api.kube.list<Obj>('v1', 'Event', NS)).filter(
    (e) => (e as { involvedObject?: { name?: string } }).involvedObject?.name === name,
  ) as (Obj & { type?: string; reason?: string; message?: string })[];

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'waits-warnings-'));
  [api, sim] = await Promise.all([
    startTestApi(),
    startOpenstackSimulator({ inventory: OPENSTACK_TEST_INVENTORY, workDir: join(root, 'sim') }),
  ]);
  await api.kube.create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'os-credentials', namespace: NS },
    stringData: {
      username: sim.username,
      password: sim.password,
      project_name: sim.projectName,
      domain_name: sim.domainName,
      ca_cert: sim.caCertPem ?? '',
    },
  });
  const source = await api.kube.create<Obj>({
    apiVersion: API_VERSION,
    kind: 'OpenstackSource',
    metadata: { name: 'devstack', namespace: NS },
    spec: { endpoint: sim.url, region: sim.region, credentials: { name: 'os-credentials' } },
  });
  await api.kube.replaceStatus({ ...source, status: { status: 'clusterReady' } }, 'openstacksources');
});

after(async () => {
  await sim?.stop();
  await api?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

test('OpenStack with forcePowerOff: preflight passes with the warning in its condition and a Warning Event', async () => {
  await api.kube.create({
    apiVersion: API_VERSION,
    kind: 'VirtualMachineImport',
    metadata: { name: 'forced', namespace: NS },
    spec: {
      virtualMachineName: 'testvm',
      forcePowerOff: true,
      sourceCluster: { name: 'devstack', kind: 'OpenstackSource', apiVersion: API_VERSION },
    },
  });
  const status = await run(preflightStep, 'forced');
  assert.equal(status.importStatus, 'virtualMachineImportValid');
  const valid = status.importConditions?.find((c) => c.type === 'VirtualMachineImportValid');
  assert.equal(valid?.status, 'True');
  assert.equal(valid?.reason, 'PreflightPassedWithWarnings');
  assert.match(valid?.message ?? '', /forced power off is not supported by OpenStack/);
  const events = await eventsOf('forced');
  assert.ok(
    events.some((e) => e.type === 'Warning' && /forced power off/.test(e.message ?? '')),
    JSON.stringify(events.map((e) => [e.type, e.reason])),
  );
});

test('a source deleted after preflight: sanitize waits with SourceReady=Unknown/SourceNotFound, written once', async () => {
  const created = await api.kube.create<Obj>({
    apiVersion: API_VERSION,
    kind: 'VirtualMachineImport',
    metadata: { name: 'orphan', namespace: NS },
    spec: {
      virtualMachineName: 'testvm',
      sourceCluster: { name: 'deleted-meanwhile', kind: 'OpenstackSource', apiVersion: API_VERSION },
    },
  });
  await api.kube.replaceStatus(
    { ...created, status: { importStatus: 'virtualMachineImportValid' } },
    'virtualmachineimports',
  );
  const status = await run(sanitizeStep, 'orphan');
  assert.equal(status.importStatus, 'virtualMachineImportValid', 'it waits: the source may come back');
  const ready = status.importConditions?.find((c) => c.type === 'SourceReady');
  assert.deepEqual([ready?.status, ready?.reason], ['Unknown', 'SourceNotFound']);
  assert.match(
    ready?.message ?? '',
    /OpenstackSource default\/deleted-meanwhile was deleted after preflight/,
  );
  const version = (await getImport('orphan')).metadata!.resourceVersion;
  await run(sanitizeStep, 'orphan'); // a resync tick: nothing new to say, nothing written
  assert.equal((await getImport('orphan')).metadata!.resourceVersion, version);
  assert.equal((await eventsOf('orphan')).filter((e) => e.reason === 'SourceNotFound').length, 1);
});
