// Pure logic of the embedded API server: selectors, schema processing, patches, history, tables.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aggregatedDiscovery, wantsAggregatedDiscovery } from '../../local-cluster/apiserver/discovery.ts';
import { ChangeHistory } from '../../local-cluster/apiserver/history.ts';
import { structuralErrors } from '../../local-cluster/apiserver/structural.ts';
import { builtinPrinter } from '../../local-cluster/apiserver/printers.ts';
import { validateObjectMeta } from '../../local-cluster/apiserver/names.ts';
import { jsonPatch, mergePatch, strategicMergePatch } from '../../local-cluster/apiserver/patch.ts';
import { compareVersionPriority, Registry } from '../../local-cluster/apiserver/registry.ts';
import { matchesLabels, parseLabelSelector } from '../../local-cluster/apiserver/selectors.ts';
import { evaluateJsonPath, humanDuration } from '../../local-cluster/apiserver/table.ts';
import type { JSONSchemaProps, KubeObject } from '../../local-cluster/apiserver/types.ts';
import { processCustomResource } from '../../local-cluster/apiserver/validation.ts';

describe('label selectors', () => {
  const m = (sel: string, labels: Record<string, string>): boolean =>
    matchesLabels(parseLabelSelector(sel), labels);
  it('handles equality, set-based and existence requirements', () => {
    assert.ok(m('a=1,b==2', { a: '1', b: '2' }));
    assert.ok(!m('a=1', { a: '2' }));
    assert.ok(m('a!=1', {}));
    assert.ok(m('env in (dev, prod)', { env: 'prod' }));
    assert.ok(!m('env in (dev,prod)', {}));
    assert.ok(m('env notin (dev,prod)', {}));
    assert.ok(!m('env notin (dev,prod)', { env: 'dev' }));
    assert.ok(m('a,!b', { a: 'x' }));
    assert.ok(!m('a,!b', { a: 'x', b: 'y' }));
    assert.throws(() => parseLabelSelector('a in (x'), /unable to parse requirement/);
  });
});

describe('structural schema processing', () => {
  const schema: JSONSchemaProps = {
    type: 'object',
    properties: {
      spec: {
        type: 'object',
        required: ['name'],
        properties: {
          name: { type: 'string', pattern: '^[a-z]+$' },
          count: { type: 'integer', minimum: 1, default: 3 },
          mode: { type: 'string', enum: ['a', 'b'] },
          port: { 'x-kubernetes-int-or-string': true },
          free: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
          list: {
            type: 'array',
            items: { type: 'object', properties: { n: { type: 'number', nullable: true } } },
          },
        },
      },
    },
  };
  const obj = (spec: Record<string, unknown>): KubeObject => ({
    apiVersion: 'x/v1',
    kind: 'X',
    metadata: { name: 'x', extra: 1 },
    spec,
  });

  it('prunes unknown fields, keeps preserved ones and applies defaults', () => {
    const o = obj({ name: 'abc', junk: 1, free: { any: { thing: true } }, list: [{ n: null, drop: 1 }] });
    const { unknownFields, causes } = processCustomResource(o, schema);
    assert.deepEqual(causes, []);
    assert.deepEqual(unknownFields.sort(), ['metadata.extra', 'spec.junk', 'spec.list[0].drop']);
    assert.deepEqual(o['spec'], {
      name: 'abc',
      count: 3,
      free: { any: { thing: true } },
      list: [{ n: null }],
    });
  });

  it('reports Kubernetes-style field errors', () => {
    const { causes } = processCustomResource(
      obj({ count: 'abc', mode: 'c', name: 'A1', port: true }),
      schema,
    );
    assert.deepEqual(causes, [
      {
        reason: 'FieldValueInvalid',
        field: 'spec.count',
        message: 'Invalid value: "string": spec.count in body must be of type integer: "string"',
      },
      {
        reason: 'FieldValueNotSupported',
        field: 'spec.mode',
        message: 'Unsupported value: "c": supported values: "a", "b"',
      },
      {
        reason: 'FieldValueInvalid',
        field: 'spec.name',
        message: `Invalid value: "A1": spec.name in body should match '^[a-z]+$'`,
      },
      {
        reason: 'FieldValueInvalid',
        field: 'spec.port',
        message: 'Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean"',
      },
    ]);
    const formats = processCustomResource(
      {
        apiVersion: 'x/v1',
        kind: 'X',
        metadata: {},
        status: { at: 'yesterday', ok: '2026-11-22T01:02:03.5Z', ip: '10.0.0.1' },
      } as KubeObject,
      {
        type: 'object',
        properties: {
          status: {
            type: 'object',
            properties: {
              at: { type: 'string', format: 'date-time' },
              ok: { type: 'string', format: 'date-time' },
              ip: { type: 'string', format: 'ipv4' },
            },
          },
        },
      },
    ).causes;
    assert.deepEqual(formats, [
      {
        reason: 'FieldValueInvalid',
        field: 'status.at',
        message: 'Invalid value: "yesterday": status.at in body must be of type date-time: "yesterday"',
      },
    ]);
    const missing = processCustomResource(obj({ count: 0 }), schema).causes;
    assert.deepEqual(
      missing.map((c) => `${c.field}: ${c.message}`),
      [
        'spec.name: Required value',
        'spec.count: Invalid value: 0: spec.count in body should be greater than or equal to 1',
      ],
    );
  });
});

describe('patches', () => {
  it('merge patch removes nulls and replaces lists', () => {
    assert.deepEqual(mergePatch({ a: 1, b: { c: 2, d: 3 }, l: [1, 2] }, { a: null, b: { c: 5 }, l: [3] }), {
      b: { c: 5, d: 3 },
      l: [3],
    });
  });
  it('json patch applies operations and reports failed tests as 422', () => {
    assert.deepEqual(jsonPatch({ a: [1] }, [{ op: 'add', path: '/a/-', value: 2 }]), { a: [1, 2] });
    assert.throws(
      () => jsonPatch({ a: 1 }, [{ op: 'test', path: '/a', value: 2 }]),
      (err: { code?: number }) => err.code === 422,
    );
  });
  it('strategic merge patch merges containers and env by name and honours directives', () => {
    const current = {
      spec: {
        containers: [
          {
            name: 'a',
            image: 'x',
            env: [
              { name: 'A', value: '1' },
              { name: 'B', value: '2' },
            ],
          },
          { name: 'b', image: 'y' },
        ],
        finalizers: ['f1'],
      },
    };
    const patch = {
      spec: {
        containers: [
          { name: 'b', image: 'z' },
          {
            name: 'a',
            env: [
              { name: 'B', $patch: 'delete' },
              { name: 'C', value: '3' },
            ],
          },
        ],
        '$setElementOrder/containers': [{ name: 'a' }, { name: 'b' }],
        finalizers: ['f2'],
      },
    };
    assert.deepEqual(strategicMergePatch(current, JSON.parse(JSON.stringify(patch))), {
      spec: {
        containers: [
          {
            name: 'a',
            image: 'x',
            env: [
              { name: 'A', value: '1' },
              { name: 'C', value: '3' },
            ],
          },
          { name: 'b', image: 'z' },
        ],
        finalizers: ['f1', 'f2'],
      },
    });
  });
});

describe('change history', () => {
  it('expires resourceVersions older than the retained window', () => {
    const h = new ChangeHistory(3);
    const obj = { apiVersion: 'v1', kind: 'X', metadata: {} };
    for (let rv = 1; rv <= 5; rv++) h.append({ rv, type: 'ADDED', storageKey: 'k', object: obj });
    assert.equal(h.since(1, 'k'), undefined);
    assert.deepEqual(
      h.since(2, 'k')?.map((c) => c.rv),
      [3, 4, 5],
    );
    assert.deepEqual(h.since(4, 'other'), []);
  });
});

describe('tables and versions', () => {
  it('evaluates printer column JSONPath with filters', () => {
    const o = { status: { conditions: [{ type: 'Ready', status: 'True' }], phase: 'Running' } };
    assert.equal(evaluateJsonPath(o, '.status.phase'), 'Running');
    assert.equal(evaluateJsonPath(o, `.status.conditions[?(@.type=="Ready")].status`), 'True');
    assert.equal(evaluateJsonPath(o, '.status.missing'), undefined);
  });
  it('prints ages like kubectl', () => {
    assert.equal(humanDuration(5_000), '5s');
    assert.equal(humanDuration(150_000), '2m30s');
    assert.equal(humanDuration(3 * 3600_000 + 60_000), '3h1m');
    assert.equal(humanDuration(50 * 3600_000), '2d2h');
  });
  it('orders API versions by Kubernetes priority', () => {
    assert.deepEqual(['v1alpha1', 'v1beta2', 'v2', 'v1', 'v1beta1', 'foo'].sort(compareVersionPriority), [
      'v2',
      'v1',
      'v1beta2',
      'v1beta1',
      'v1alpha1',
      'foo',
    ]);
  });
});

describe('aggregated discovery', () => {
  it('is chosen only for the v2 APIGroupDiscoveryList media type', () => {
    const kubectl =
      'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json';
    assert.ok(wantsAggregatedDiscovery(kubectl));
    assert.ok(
      !wantsAggregatedDiscovery(
        'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json',
      ),
    );
    assert.ok(!wantsAggregatedDiscovery('application/json'));
  });
  it('lists resources with scope, short names and status subresources', () => {
    const doc = aggregatedDiscovery(new Registry(), false) as {
      items: {
        metadata: { name: string };
        versions: { version: string; resources: Record<string, unknown>[] }[];
      }[];
    };
    const apps = doc.items.find((i) => i.metadata.name === 'apps');
    const deployments = apps?.versions[0]?.resources.find((r) => r['resource'] === 'deployments');
    assert.deepEqual(deployments?.['shortNames'], ['deploy']);
    assert.equal(deployments?.['scope'], 'Namespaced');
    assert.deepEqual(
      (deployments?.['subresources'] as { subresource: string }[]).map((s) => s.subresource),
      ['status'],
    );
    assert.ok(!doc.items.some((i) => i.metadata.name === ''), 'the core group is served from /api');
  });
});

describe('object metadata validation', () => {
  it('checks label keys and values and owner references like Kubernetes', () => {
    assert.deepEqual(
      validateObjectMeta({
        labels: { 'example.com/app': 'web', empty: '' },
        annotations: { 'Kubectl.io/x': 'y' },
      }),
      [],
    );
    const causes = validateObjectMeta({
      labels: { 'vm-name': 'My VM (copy)', long: 'x'.repeat(64), 'bad key': 'v' },
      ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'x' }],
    });
    const lines = causes.map((c) => `${c.field}: ${c.message}`);
    assert.equal(lines.length, 4);
    assert.match(
      lines[0] ?? '',
      /^metadata\.labels: Invalid value: "My VM \(copy\)": a valid label must be an empty string/,
    );
    assert.match(
      lines[1] ?? '',
      /^metadata\.labels: Invalid value: "x{64}": must be no more than 63 characters$/,
    );
    assert.match(
      lines[2] ?? '',
      /^metadata\.labels: Invalid value: "bad key": name part must consist of alphanumeric characters/,
    );
    assert.equal(lines[3], 'metadata.ownerReferences[0].uid: Required value');
  });
});

describe('built-in printers', () => {
  const info = (group: string, resource: string): never => ({ group, resource }) as never;
  const created = new Date(Date.now() - 90_000).toISOString();
  it('prints pods like kubectl (ready count, waiting reason, restarts)', () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', creationTimestamp: created },
      spec: { containers: [{ name: 'a' }, { name: 'b' }] },
      status: {
        phase: 'Running',
        containerStatuses: [
          { ready: true, restartCount: 1, state: {} },
          { ready: false, restartCount: 2, state: { waiting: { reason: 'CrashLoopBackOff' } } },
        ],
      },
    };
    const printer = builtinPrinter(info('', 'pods'));
    assert.deepEqual(
      printer.columns.map((c) => c.name),
      ['Name', 'Ready', 'Status', 'Restarts', 'Age'],
    );
    assert.deepEqual(printer.cells(pod, Date.now()), ['p', '1/2', 'CrashLoopBackOff', '3', '90s']);
  });
  it('prints jobs with completions and events with their object', () => {
    const job = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'j', creationTimestamp: created },
      spec: { completions: 1 },
      status: {
        succeeded: 1,
        startTime: created,
        completionTime: new Date(Date.parse(created) + 5_000).toISOString(),
        conditions: [{ type: 'Complete', status: 'True' }],
      },
    };
    assert.deepEqual(builtinPrinter(info('batch', 'jobs')).cells(job, Date.now()), [
      'j',
      'Complete',
      '1/1',
      '5s',
      '90s',
    ]);
    const event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'e', creationTimestamp: created },
      involvedObject: { kind: 'VirtualMachineImport', name: 'vm1' },
      type: 'Warning',
      reason: 'Failed',
      message: 'm',
      lastTimestamp: created,
    };
    assert.deepEqual(builtinPrinter(info('', 'events')).cells(event, Date.now()).slice(0, 4), [
      '90s',
      'Warning',
      'Failed',
      'virtualmachineimport/vm1',
    ]);
  });
});

describe('structural CRD schemas', () => {
  it('names the fields a real API server would reject', () => {
    const errors = structuralErrors(
      {
        type: 'object',
        properties: {
          metadata: { type: 'object', properties: { labels: { type: 'object' } } },
          spec: {
            properties: {
              list: { type: 'array' },
              port: { 'x-kubernetes-int-or-string': true },
              free: { 'x-kubernetes-preserve-unknown-fields': true },
            },
          },
        },
      },
      'spec.versions[0].schema.openAPIV3Schema',
    );
    assert.deepEqual(
      errors.map((e) => `${e.field}: ${e.message}`),
      [
        'spec.versions[0].schema.openAPIV3Schema.properties[metadata].properties[labels]: Forbidden: must not be specified',
        'spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields',
        'spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[list].items: Required value: must be specified',
      ],
    );
  });
});
