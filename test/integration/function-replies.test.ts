// What each function answers the broker, over HTTP through faas-js-runtime (served as
// functions/serve.ts serves it), for every outcome: ignore, wait, update and error. Knative's
// broker filter (knative.dev/eventing pkg/broker/filter/filter_handler.go, writeResponse) fails a
// 2xx reply whose body is neither empty nor a CloudEvent with 502, retries it and dead-letters it;
// an error reply must carry a status the broker retries when a retry can help.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { Server } from 'node:http';
import { CloudEvent, HTTP } from 'cloudevents';
import faas from 'faas-js-runtime';
import { PING_EVENT_TYPE, RESYNC_PING_DATA } from '../../events/ping.ts';
import { FUNCTION_NAMES, type FunctionName } from '../../events/routing.ts';
import {
  API_VERSION,
  ImportStatus,
  type VirtualMachineImportStatus,
} from '../../functions/shared/api/index.ts';
import type { FunctionHandler } from '../../functions/shared/function-handler.ts';
import { phaseFunction, type ImportStep } from '../../functions/shared/phase-function.ts';
import { ApiException } from '@kubernetes/client-node';
import type { Obj } from '../../functions/shared/kube/client.ts';
import { knativeRetries } from '../support/knative-delivery.ts';
import { handle as cleanup } from '../../functions/cleanup/index.ts';
import { handle as deadLetter } from '../../functions/dead-letter/index.ts';
import { handle as exportFn } from '../../functions/export/index.ts';
import { handle as exportStatus } from '../../functions/export-status/index.ts';
import { handle as imageStatus } from '../../functions/image-status/index.ts';
import { handle as images } from '../../functions/images/index.ts';
import { handle as preflight } from '../../functions/preflight/index.ts';
import { handle as resync } from '../../functions/resync/index.ts';
import { handle as sanitize } from '../../functions/sanitize/index.ts';
import { handle as verifySource } from '../../functions/verify-source/index.ts';
import { handle as vm } from '../../functions/vm/index.ts';
import { handle as vmStatus } from '../../functions/vm-status/index.ts';
import { apiServerEvent, startTestApi, type TestApi } from '../support/cluster-api.ts';

// Every function's module handle, as serve.ts loads it (the compiler checks the list is complete).
const HANDLES: Record<FunctionName, FunctionHandler> = {
  preflight,
  sanitize,
  export: exportFn,
  'export-status': exportStatus,
  images,
  'image-status': imageStatus,
  vm,
  'vm-status': vmStatus,
  cleanup,
  'verify-source': verifySource,
  resync,
  'dead-letter': deadLetter,
};

const NS = 'default';
let api: TestApi;
const servers: Server[] = [];
const urls = new Map<FunctionName | 'test-step', string>();

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** Serves `handle` with faas-js-runtime, as functions/serve.ts does. */
async function serve(name: FunctionName | 'test-step', handle: FunctionHandler): Promise<void> {
  const port = await freePort();
  servers.push(await faas.start(handle, { port, logLevel: 'silent' as never }));
  urls.set(name, `http://127.0.0.1:${port}/`);
}

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Posts `event` in binary mode, as the broker does. */
async function deliver(to: FunctionName | 'test-step', event: CloudEvent<unknown>): Promise<Reply> {
  const message = HTTP.binary(event);
  const res = await fetch(urls.get(to)!, {
    method: 'POST',
    headers: message.headers as Record<string, string>,
    body: message.body as string,
  });
  return {
    status: res.status,
    headers: Object.fromEntries(res.headers),
    body: Buffer.from(await res.arrayBuffer()),
  };
}

/** A successful reply Knative's broker accepts: no body, or a CloudEvent. */
function assertAccepted(reply: Reply, what: string): void {
  assert.ok(reply.status >= 200 && reply.status < 300, `${what}: 2xx, got ${reply.status}`);
  if (reply.body.length === 0) return;
  assert.doesNotThrow(
    () => HTTP.toEvent({ headers: reply.headers, body: reply.body }),
    `${what}: a non-empty reply must be a CloudEvent, got ${reply.status} ${reply.headers['content-type']} ${reply.body.toString().slice(0, 200)}`,
  );
}

function assertRetried(reply: Reply, what: string): void {
  assert.ok(
    reply.status >= 300 && knativeRetries(reply.status),
    `${what}: an error the broker retries, got ${reply.status}`,
  );
}

async function createImport(
  name: string,
  spec: Record<string, unknown>,
  status?: VirtualMachineImportStatus,
) {
  const created = await api.kube.create<Obj>({
    apiVersion: API_VERSION,
    kind: 'VirtualMachineImport',
    metadata: { name, namespace: NS },
    spec,
  });
  if (!status) return created;
  return api.kube.replaceStatus({ ...created, status }, 'virtualmachineimports');
}

const getImport = (name: string) => api.kube.get(API_VERSION, 'VirtualMachineImport', NS, name);
const phaseOf = async (name: string) =>
  ((await getImport(name)).status as VirtualMachineImportStatus | undefined)?.importStatus ?? '';
const createOvaSource = (name: string) =>
  api.kube.create<Obj>({
    apiVersion: API_VERSION,
    kind: 'OvaSource',
    metadata: { name, namespace: NS },
    spec: { url: 'http://127.0.0.1:1/appliance.ova' },
  });
const missingSource = { name: 'nowhere', namespace: NS, kind: 'VmwareSource', apiVersion: API_VERSION };

// The outcomes a test step produces, to cover the shared phase-function path beyond the phases
// the real functions reach cheaply here.
let nextOutcome: 'ignore' | 'wait' | 'update' | 'lose-race' | 'api-unavailable' | 'api-forbidden' = 'ignore';
/** The test step runs in every phase and may write any. */
const ALL = Object.values(ImportStatus);
const ANY_PHASE = { from: ALL, to: ALL };

const testStep: ImportStep = async ({ import: vmImport, kube }) => {
  const status = vmImport.status ?? {};
  switch (nextOutcome) {
    case 'ignore':
      return { action: 'ignore' };
    case 'wait':
      return { action: 'wait', why: 'test' };
    case 'lose-race':
      // Another writer changes the import meanwhile: the status write gets a 409 and is dropped.
      await kube.mergePatch({
        apiVersion: API_VERSION,
        kind: 'VirtualMachineImport',
        metadata: { name: vmImport.metadata.name, namespace: NS, annotations: { raced: 'yes' } },
      });
      return { action: 'update', status: { ...status, importStatus: 'virtualMachineImportValid' } };
    case 'update':
      return {
        action: 'update',
        status: { ...status, importStatus: 'virtualMachineImportValid' },
        condition: { type: 'Test', status: 'True', reason: 'Verified', message: 'tested' },
        event: { type: 'Normal', reason: 'Verified', message: 'tested' },
      };
    case 'api-unavailable':
      throw new ApiException(503, 'service unavailable', '', {});
    case 'api-forbidden':
      throw new ApiException(403, 'forbidden', '', {});
  }
};

describe('function replies over HTTP (faas-js-runtime) are what Knative accepts', () => {
  before(async () => {
    api = await startTestApi();
    // The module handles connect lazily with the default kubeconfig, as in a pod.
    process.env.KUBECONFIG = api.kubeconfigPath;
    process.setMaxListeners(40); // faas-js-runtime adds signal handlers per server
    for (const name of FUNCTION_NAMES) await serve(name, HANDLES[name]);
    await serve('test-step', phaseFunction('test-step', testStep, { kube: api.kube, phases: ANY_PHASE }));
  });
  after(async () => {
    for (const s of servers) s.close();
    await api?.close();
  });

  test('ignore: every function answers an event that is not its concern with no body', async () => {
    const other = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: NS } };
    await createImport(
      'far-along',
      { virtualMachineName: 'vm', sourceCluster: missingSource },
      {
        importStatus: 'virtualMachineRunning',
      },
    );
    const farAlong = await getImport('far-along');
    const gone = { ...farAlong, metadata: { ...farAlong.metadata, name: 'no-such-import' } };
    for (const name of FUNCTION_NAMES) {
      for (const [what, object] of [
        ['an unrelated object', other],
        ['an import in a phase it does not own', farAlong],
        ['an import that no longer exists', gone],
      ] as const) {
        const event = name === 'dead-letter' ? apiServerEvent(other as Obj) : apiServerEvent(object as Obj);
        assertAccepted(await deliver(name, event), `${name}, ${what}`);
      }
    }
    const tick = new CloudEvent({ type: 'dev.example.other', source: 'test', data: {} });
    assertAccepted(await deliver('resync', tick), 'resync, not a ping');
  });

  test('wait: a phase function that waits answers with no body', async () => {
    // preflight records why it waits (an update), then waits quietly on later events
    await createImport('waits-for-source', { virtualMachineName: 'vm', sourceCluster: missingSource });
    for (const delivery of ['first', 'second'])
      assertAccepted(
        await deliver('preflight', apiServerEvent(await getImport('waits-for-source'))),
        `preflight, ${delivery} delivery`,
      );
    assert.equal(await phaseOf('waits-for-source'), '', 'preflight waits while the source is missing');

    await createImport(
      'waits-in-sanitize',
      { virtualMachineName: 'vm', sourceCluster: missingSource },
      {
        importStatus: 'virtualMachineImportValid',
      },
    );
    assertAccepted(
      await deliver('sanitize', apiServerEvent(await getImport('waits-in-sanitize'))),
      'sanitize',
    );
    assert.equal(await phaseOf('waits-in-sanitize'), 'virtualMachineImportValid');

    nextOutcome = 'wait';
    await createImport('step-waits', { virtualMachineName: 'vm', sourceCluster: missingSource });
    assertAccepted(
      await deliver('test-step', apiServerEvent(await getImport('step-waits'))),
      'a waiting step',
    );
  });

  test('update: a function that writes status answers with no body', async () => {
    await createImport('invalid', { virtualMachineName: '' });
    assertAccepted(await deliver('preflight', apiServerEvent(await getImport('invalid'))), 'preflight');
    assert.equal(await phaseOf('invalid'), 'virtualMachineImportInvalid');

    await createImport(
      'named',
      { virtualMachineName: 'vm', targetName: 'vm-1', sourceCluster: missingSource },
      {
        importStatus: 'virtualMachineImportValid',
      },
    );
    assertAccepted(await deliver('sanitize', apiServerEvent(await getImport('named'))), 'sanitize');
    assert.equal(await phaseOf('named'), 'sourceReady');

    await createImport(
      'vm-deleted',
      { virtualMachineName: 'vm', sourceCluster: missingSource },
      {
        importStatus: 'virtualMachineCreated',
        importedVirtualMachineName: 'vm-deleted',
      },
    );
    assertAccepted(await deliver('vm-status', apiServerEvent(await getImport('vm-deleted'))), 'vm-status');
    assert.equal(await phaseOf('vm-deleted'), 'VMMigrationFailed');

    const source = await createOvaSource('unreachable');
    assertAccepted(await deliver('verify-source', apiServerEvent(source)), 'verify-source');
    const sourceStatus = (await api.kube.get(API_VERSION, 'OvaSource', NS, 'unreachable')).status as {
      status?: string;
    };
    assert.equal(sourceStatus.status, 'clusterNotReady');

    const ping = new CloudEvent({ type: PING_EVENT_TYPE, source: 'test', data: RESYNC_PING_DATA });
    assertAccepted(await deliver('resync', ping), 'resync');

    const failed = (await apiServerEvent(await getImport('named'))).cloneWith(
      { knativeerrordest: 'http://vm-import-sanitize', knativeerrorcode: '502' },
      false,
    );
    assertAccepted(await deliver('dead-letter', failed), 'dead-letter');

    nextOutcome = 'update';
    await createImport('step-updates', { virtualMachineName: 'vm', sourceCluster: missingSource });
    assertAccepted(await deliver('test-step', apiServerEvent(await getImport('step-updates'))), 'an update');
    assert.equal(await phaseOf('step-updates'), 'virtualMachineImportValid');

    nextOutcome = 'lose-race';
    await createImport('step-races', { virtualMachineName: 'vm', sourceCluster: missingSource });
    assertAccepted(await deliver('test-step', apiServerEvent(await getImport('step-races'))), 'a lost race');
    assert.equal(await phaseOf('step-races'), '', 'the write lost to the concurrent one');
  });

  test('error: a failure a retry can help answers a status the broker retries', async () => {
    nextOutcome = 'api-unavailable';
    await createImport('step-fails', { virtualMachineName: 'vm', sourceCluster: missingSource });
    const event = apiServerEvent(await getImport('step-fails'));
    assertRetried(await deliver('test-step', event), 'the API server answers 503');

    nextOutcome = 'api-forbidden';
    const forbidden = await deliver('test-step', event);
    assert.equal(forbidden.status, 403, 'a 403 is not retried (it goes to the dead letter sink at once)');

    // With the API server gone, every function that needs it fails with a retryable status.
    const anImport = await getImport('step-fails');
    const source = await createOvaSource('unreachable-too');
    await api.controlPlane.stop();
    for (const name of FUNCTION_NAMES) {
      if (name === 'dead-letter') continue; // records the failure best-effort: a log line suffices
      const event =
        name === 'resync'
          ? new CloudEvent({ type: PING_EVENT_TYPE, source: 'test', data: RESYNC_PING_DATA })
          : name === 'verify-source'
            ? apiServerEvent(source)
            : apiServerEvent(anImport);
      assertRetried(await deliver(name, event), `${name} without an API server`);
    }
  });
});
