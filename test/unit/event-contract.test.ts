import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ApiServerSourceEvent, subjectOf } from '../../events/apiserver-source.ts';
import { PING_EVENT_TYPE } from '../../events/ping.ts';
import {
  FUNCTION_NAMES,
  ROUTING,
  WATCHED_RESOURCES,
  functionsFor,
  knativeServiceName,
} from '../../events/routing.ts';

const root = join(import.meta.dirname, '../..');
const manifests = async (file: string) =>
  parseAllDocuments(await readFile(join(root, file), 'utf8')).map((d) => d.toJS()) as any[];

const importObject = {
  apiVersion: 'migration.harvesterhci.io/v1beta1',
  kind: 'VirtualMachineImport',
  metadata: { name: 'alpine-export-test', namespace: 'default', uid: 'u1', resourceVersion: '7' },
  spec: { virtualMachineName: 'alpine-export-test' },
};

test('an ApiServerSource Resource-mode event parses with the contract', () => {
  const event = {
    specversion: '1.0',
    id: 'b0e9b1d9-4d3e-4e59-9d7d-4a0b1f9c2b6a',
    type: 'dev.knative.apiserver.resource.update',
    source: 'https://10.96.0.1:443',
    subject: subjectOf(importObject, 'virtualmachineimports'),
    datacontenttype: 'application/json',
    kind: 'VirtualMachineImport',
    name: 'alpine-export-test',
    namespace: 'default',
    apiversion: 'migration.harvesterhci.io/v1beta1',
    data: importObject,
  };
  assert.equal(
    event.subject,
    '/apis/migration.harvesterhci.io/v1beta1/namespaces/default/virtualmachineimports/alpine-export-test',
  );
  assert.ok(ApiServerSourceEvent.safeParse(event).success);
  assert.equal(
    ApiServerSourceEvent.safeParse({ ...event, type: 'dev.knative.apiserver.ref.add' }).success,
    false,
  );
  assert.equal(
    subjectOf({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'n' } }, 'secrets'),
    '/apis/v1/namespaces/n/secrets/s',
  );
});

test('routing: each kind reaches the functions that own its phases', () => {
  const attrs = (kind: string, apiversion: string, type = 'dev.knative.apiserver.resource.update') => ({
    type,
    kind,
    apiversion,
  });
  assert.deepEqual(functionsFor(attrs('VmwareSource', 'migration.harvesterhci.io/v1beta1')), [
    'verify-source',
  ]);
  assert.ok(functionsFor(attrs('Job', 'batch/v1')).includes('export-status'));
  assert.deepEqual(functionsFor(attrs('VirtualMachineImage', 'harvesterhci.io/v1beta1')), ['image-status']);
  assert.deepEqual(functionsFor(attrs('VirtualMachine', 'kubevirt.io/v1')), ['vm-status']);
  assert.deepEqual(functionsFor({ type: PING_EVENT_TYPE }), ['resync']);
  assert.deepEqual(
    functionsFor(
      attrs(
        'VirtualMachineImport',
        'migration.harvesterhci.io/v1beta1',
        'dev.knative.apiserver.resource.delete',
      ),
    ),
    [],
  );
  assert.equal(functionsFor(attrs('Job', 'example.com/v1')).length, 0, 'apiversion is part of the match');
});

/** Evaluates a Trigger's `filters` (subscriptions API) the way the broker does. */
function filterMatches(filter: any, attributes: Record<string, string>): boolean {
  if (filter.exact) return Object.entries(filter.exact).every(([k, v]) => attributes[k] === v);
  if (filter.any) return filter.any.some((f: any) => filterMatches(f, attributes));
  if (filter.all) return filter.all.every((f: any) => filterMatches(f, attributes));
  throw new Error(`unexpected filter ${JSON.stringify(filter)}`);
}

test('config/eventing triggers deliver exactly what the routing table says', async () => {
  const triggers = await manifests('config/eventing/triggers.yaml');
  const samples = [
    ...WATCHED_RESOURCES.flatMap((r) =>
      ['add', 'update', 'delete'].map((t) => ({
        type: `dev.knative.apiserver.resource.${t}`,
        kind: r.kind,
        apiversion: r.apiVersion,
      })),
    ),
    { type: PING_EVENT_TYPE },
  ] as Record<string, string>[];
  for (const attributes of samples) {
    const byTriggers = [
      ...new Set(
        triggers
          .filter((t) => t.spec.filters.every((f: any) => filterMatches(f, attributes)))
          .map((t) => t.spec.subscriber.ref.name),
      ),
    ].sort();
    const byTable = functionsFor(attributes).map(knativeServiceName).sort();
    assert.deepEqual(byTriggers, byTable, JSON.stringify(attributes));
  }
  for (const t of triggers)
    for (const f of t.spec.filters) if (f.exact) assert.equal(Object.keys(f.exact).length, 1);
});

test('the ApiServerSource watches every kind a route needs, in Resource mode, into the broker', async () => {
  const source = (await manifests('config/eventing/apiserversource.yaml')).find(
    (m) => m.kind === 'ApiServerSource',
  );
  assert.equal(source.spec.mode, 'Resource');
  assert.equal(source.spec.sink.ref.kind, 'Broker');
  const watched = new Set(source.spec.resources.map((r: any) => `${r.apiVersion}/${r.kind}`));
  for (const fn of FUNCTION_NAMES)
    for (const route of ROUTING[fn].routes as readonly { kind?: string; apiVersion?: string }[])
      if (route.kind)
        assert.ok(watched.has(`${route.apiVersion}/${route.kind}`), `${fn} needs ${route.kind}`);
  const broker = (await manifests('config/eventing/broker.yaml'))[0];
  assert.equal(broker.spec.delivery.backoffPolicy, 'exponential');
  assert.ok(broker.spec.delivery.retry >= 3);
  assert.equal(broker.spec.delivery.deadLetterSink.ref.name, 'vm-import-dead-letter');
  const ping = (await manifests('config/eventing/pingsource.yaml'))[0];
  assert.equal(ping.kind, 'PingSource');
});
