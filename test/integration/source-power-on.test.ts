// The source comes back on when an import that powered it off ends without its VM, against real
// vcsim (PowerOnVM_Task) and the real API server: a failed import (the function that fails it
// powers the source on), the same failure delivered several times at once (one power-on, no
// failed task in vCenter), an import deleted before its VM exists (cleanup, finalizer kept until
// done), a source that was off (stays off), and the opt-out. Each with the SourcePoweredOn
// condition and an Event.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_VERSION, type VirtualMachineImportStatus } from '../../functions/shared/api/index.ts';
import { phaseFunction, IMPORT_FINALIZER } from '../../functions/shared/phase-function.ts';
import type { Obj } from '../../functions/shared/kube/client.ts';
import { exportStatusStep } from '../../functions/export-status/index.ts';
import { cleanupStep } from '../../functions/cleanup/index.ts';
import { powerOffVmwareVm } from '../../functions/shared/sources/vmware/power.ts';
import { startVcsim, type Vcsim } from '../../local-cluster/simulators/vcsim/index.ts';
import { apiServerEvent, noContext, startTestApi, type TestApi } from '../support/cluster-api.ts';
import { vmwarePowerStateOf } from '../support/source-power.ts';
import { vmwareTasksOf } from '../support/vmware-tasks.ts';
import { createLogger } from '../../functions/shared/log.ts';

let api: TestApi;
let vcsim: Vcsim;
let root: string;
const NS = 'default';

const vm = (name: string, powerState: 'poweredOn' | 'poweredOff') => ({
  name,
  powerState,
  toolsRunning: true,
  shutdownSeconds: 0,
  guestId: 'otherLinux64Guest',
  cpus: 1,
  coresPerSocket: 1,
  memoryMiB: 64,
  firmware: 'bios' as const,
  secureBoot: false,
  tpm: false,
  disks: [{ sizeMiB: 1, controller: 'pvscsi' as const, allocatedPercent: 0, seed: 1 }],
  nics: [],
});

const getImport = (name: string) => api.kube.get<Obj>(API_VERSION, 'VirtualMachineImport', NS, name);
const statusOf = async (name: string) => (await getImport(name)).status as VirtualMachineImportStatus;
const powerOf = (name: string) => vmwarePowerStateOf(vcsim, name);
const conditionOf = async (name: string, type: string) =>
  (await statusOf(name)).importConditions?.find((c) => c.type === type);
const eventReasons = async (name: string) =>
  (await api.kube.list<Obj>('v1', 'Event', NS))
    .filter((e) => (e as { involvedObject?: { name?: string } }).involvedObject?.name === name)
    .map((e) => (e as { reason?: string }).reason);

const cond = (type: string, reason: string, status = 'True') => ({
  type,
  status,
  reason,
  message: reason,
  lastUpdateTime: '2026-01-01T00:00:00Z',
  lastTransitionTime: '2026-01-01T00:00:00Z',
});

/** An import in sourceReady whose export Job recorded `conditions` (as the Job does). */
async function exportedImport(name: string, vmName: string, conditions: object[], spec: object = {}) {
  const created = await api.kube.create<Obj>({
    apiVersion: API_VERSION,
    kind: 'VirtualMachineImport',
    metadata: { name, namespace: NS, finalizers: [IMPORT_FINALIZER] },
    spec: {
      virtualMachineName: vmName,
      sourceCluster: { name: 'vcsim', namespace: NS, kind: 'VmwareSource', apiVersion: API_VERSION },
      ...spec,
    },
  });
  await api.kube.replaceStatus(
    {
      ...created,
      status: { importStatus: 'sourceReady', importedVirtualMachineName: name, importConditions: conditions },
    },
    'virtualmachineimports',
  );
}

/** Powers the VM off as the export Job does (guest shutdown), recording nothing. */
async function powerOffAsTheJobDoes(name: string) {
  await powerOffVmwareVm(
    {
      endpoint: vcsim.url,
      username: vcsim.username,
      password: vcsim.password,
      caCertPem: vcsim.caCertPem,
      insecureSkipVerify: false,
    },
    'DC0',
    { name },
    { forcePowerOff: false },
    {
      conditions: {},
      record: async () => undefined,
      log: createLogger({ test: 'source-power-on' }),
      signal: new AbortController().signal,
      env: {},
    },
    60_000,
  );
  assert.equal(await powerOf(name), 'poweredOff');
}

/** Runs a step as its function does: the frame applies that function's phase guard. */
const run = async (step: typeof exportStatusStep, name: string) =>
  phaseFunction(step === cleanupStep ? 'cleanup' : 'export-status', step, { kube: api.kube })(
    noContext,
    apiServerEvent(await getImport(name)),
  );

describe('the source is powered back on when the import that powered it off ends without its VM', () => {
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'source-power-on-'));
    [api, vcsim] = await Promise.all([
      startTestApi(),
      startVcsim({
        workDir: join(root, 'vcsim'),
        inventory: {
          vmware: {
            datacenter: 'DC0',
            networks: [],
            vms: [
              vm('fails', 'poweredOn'),
              vm('was-off', 'poweredOff'),
              vm('opted-out', 'poweredOn'),
              vm('deleted', 'poweredOn'),
              vm('shared', 'poweredOn'),
              vm('duplicates', 'poweredOn'),
            ],
          },
        },
      }),
    ]);
    await api.kube.create({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'vsphere-credentials', namespace: NS },
      stringData: { username: vcsim.username, password: vcsim.password, caCert: vcsim.caCertPem },
    });
    const source = await api.kube.create<Obj>({
      apiVersion: API_VERSION,
      kind: 'VmwareSource',
      metadata: { name: 'vcsim', namespace: NS },
      spec: { endpoint: vcsim.url, dc: 'DC0', credentials: { name: 'vsphere-credentials', namespace: NS } },
    });
    await api.kube.replaceStatus({ ...source, status: { status: 'clusterReady' } }, 'vmwaresources');
  });
  after(async () => {
    await vcsim?.stop();
    await api?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  test('an import that fails after shutting the source down powers it on: SourcePoweredOn=True and an Event', async () => {
    await powerOffAsTheJobDoes('fails');
    await exportedImport('fails', 'fails', [
      // the export function's condition when it created the Job, as in a real run
      cond('DisksExported', 'ExportJobCreated', 'Unknown'),
      cond('VMShutdownGuest', 'GuestShutdownRequested'),
      cond('VMPoweredOff', 'PoweredOff'),
      cond('VMExportFailed', 'DiskVerificationFailed'),
    ]);
    await run(exportStatusStep, 'fails');
    const status = await statusOf('fails');
    assert.equal(status.importStatus, 'VMMigrationFailed');
    const power = status.importConditions?.find((c) => c.type === 'SourcePoweredOn');
    assert.deepEqual([power?.status, power?.reason], ['True', 'PoweredOn']);
    assert.match(power?.message ?? '', /VM fails was powered on, as the import failed after powering it off/);
    assert.equal(status.importConditions?.at(-1)?.type, 'DisksExported', 'the failure stays the last word');
    assert.equal(await powerOf('fails'), 'poweredOn');
    assert.ok((await eventReasons('fails')).includes('PoweredOn'));
    // a late event changes nothing, powers nothing
    const version = (await getImport('fails')).metadata!.resourceVersion;
    await run(exportStatusStep, 'fails');
    assert.equal((await getImport('fails')).metadata!.resourceVersion, version);
  });

  test('the same failure delivered three times at once powers the source on once: no failed power-on task in vCenter', async () => {
    await powerOffAsTheJobDoes('duplicates');
    const earlier = (await vmwareTasksOf(vcsim, 'duplicates')).length;
    await exportedImport('duplicates', 'duplicates', [
      cond('DisksExported', 'ExportJobCreated', 'Unknown'),
      cond('VMShutdownGuest', 'GuestShutdownRequested'),
      cond('VMPoweredOff', 'PoweredOff'),
      cond('VMExportFailed', 'DiskVerificationFailed'),
    ]);
    // the broker delivers an update of the import more than once, concurrently (seen in the e2e)
    const event = apiServerEvent(await getImport('duplicates'));
    const fn = phaseFunction('export-status', exportStatusStep, { kube: api.kube });
    await Promise.all([fn(noContext, event), fn(noContext, event), fn(noContext, event)]);
    assert.equal((await statusOf('duplicates')).importStatus, 'VMMigrationFailed');
    assert.equal(await powerOf('duplicates'), 'poweredOn');
    const tasks = (await vmwareTasksOf(vcsim, 'duplicates')).slice(earlier);
    assert.deepEqual(
      tasks.filter((t) => t.state === 'error'),
      [],
      `no failed task: ${JSON.stringify(tasks)}`,
    );
    assert.equal(tasks.filter((t) => t.descriptionId === 'VirtualMachine.powerOn').length, 1, 'one power-on');
  });

  test('a source that was off before the import stays off: SourcePoweredOn=False/SourceWasOff', async () => {
    await exportedImport('was-off', 'was-off', [
      cond('VMPoweredOff', 'PoweredOff'),
      cond('VMExportFailed', 'DiskVerificationFailed'),
    ]);
    await run(exportStatusStep, 'was-off');
    const power = await conditionOf('was-off', 'SourcePoweredOn');
    assert.deepEqual([power?.status, power?.reason], ['False', 'SourceWasOff']);
    assert.equal(await powerOf('was-off'), 'poweredOff');
    assert.ok((await eventReasons('was-off')).includes('SourceWasOff'));
  });

  test('spec.powerOnSourceAfterFailure: false leaves it off, with a Warning saying so', async () => {
    await powerOffAsTheJobDoes('opted-out');
    await exportedImport(
      'opted-out',
      'opted-out',
      [cond('VMShutdownGuest', 'GuestShutdownRequested'), cond('VMExportFailed', 'DiskVerificationFailed')],
      { powerOnSourceAfterFailure: false },
    );
    await run(exportStatusStep, 'opted-out');
    const power = await conditionOf('opted-out', 'SourcePoweredOn');
    assert.deepEqual([power?.status, power?.reason], ['False', 'PowerOnDisabled']);
    assert.equal(await powerOf('opted-out'), 'poweredOff');
  });

  test('another import of the same VM that is exporting it keeps it off: SourcePoweredOn=False/SourceInUse', async () => {
    await powerOffAsTheJobDoes('shared');
    await exportedImport('holder', 'shared', [cond('VMPoweredOff', 'PoweredOff')]);
    await exportedImport('loser', 'shared', [
      cond('VMShutdownGuest', 'GuestShutdownRequested'),
      cond('VMExportFailed', 'DiskVerificationFailed'),
    ]);
    await run(exportStatusStep, 'loser');
    const power = await conditionOf('loser', 'SourcePoweredOn');
    assert.deepEqual([power?.status, power?.reason], ['False', 'SourceInUse']);
    assert.match(power?.message ?? '', /import default\/holder of the same VM/);
    assert.equal(await powerOf('shared'), 'poweredOff');
  });

  test('an import deleted mid-export powers the source on once its Job is gone, then lets go of the finalizer', async () => {
    await powerOffAsTheJobDoes('deleted');
    await exportedImport('deleted', 'deleted', [cond('VMShutdownGuest', 'GuestShutdownRequested')]);
    const vmImport = await getImport('deleted');
    // the export Job, still stopping
    await api.kube.create({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        name: 'deleted-export',
        namespace: NS,
        finalizers: ['test/stopping'],
        ownerReferences: [
          {
            apiVersion: API_VERSION,
            kind: 'VirtualMachineImport',
            name: 'deleted',
            uid: vmImport.metadata!.uid!,
          },
        ],
      },
      spec: {
        template: {
          spec: { restartPolicy: 'Never', containers: [{ name: 'exporter', image: 'x' }] },
        },
      },
    });
    await api.kube.delete(vmImport);
    await run(cleanupStep, 'deleted');
    assert.equal(await powerOf('deleted'), 'poweredOff', 'not while the Job may still power it off');
    assert.ok((await getImport('deleted')).metadata?.finalizers?.includes(IMPORT_FINALIZER));

    const job = await api.kube.get<Obj>('batch/v1', 'Job', NS, 'deleted-export');
    await api.kube.replace({ ...job, metadata: { ...job.metadata, finalizers: [] } });
    await run(cleanupStep, 'deleted');
    assert.equal(await powerOf('deleted'), 'poweredOn');
    const power = await conditionOf('deleted', 'SourcePoweredOn');
    assert.deepEqual([power?.status, power?.reason], ['True', 'PoweredOn']);
    assert.match(power?.message ?? '', /as the import was deleted before its VM existed/);
    assert.ok(
      (await getImport('deleted')).metadata?.finalizers?.includes(IMPORT_FINALIZER),
      'kept until recorded',
    );

    await run(cleanupStep, 'deleted'); // the status write's event: now the finalizer goes
    assert.equal(await api.kube.find(API_VERSION, 'VirtualMachineImport', NS, 'deleted'), undefined);
    assert.ok((await eventReasons('deleted')).includes('PoweredOn'));
  });
});
