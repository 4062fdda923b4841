// The embedded API server against the real @kubernetes/client-node.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'node:https';
import { after, before, describe, it } from 'node:test';
import type {
  KubernetesListObject,
  KubernetesObject,
  V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import {
  ApiextensionsV1Api,
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  Watch,
} from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import type { TestApiServer } from '../../local-cluster/apiserver/testing.ts';
import { startTestApiServer } from '../../local-cluster/apiserver/testing.ts';
import { thirdPartyCrdDir } from '../../local-cluster/components/crds.ts';

const HISTORY = 50;
const GROUP = { group: 'migration.harvesterhci.io', version: 'v1beta1', plural: 'virtualmachineimports' };
const PATH = '/apis/migration.harvesterhci.io/v1beta1/namespaces/default/virtualmachineimports';

function vmImport(
  name: string,
  labels: Record<string, string> = {},
): KubernetesObject & Record<string, unknown> {
  return {
    apiVersion: 'migration.harvesterhci.io/v1beta1',
    kind: 'VirtualMachineImport',
    metadata: { name, namespace: 'default', labels },
    spec: {
      virtualMachineName: `vm-${name}`,
      sourceCluster: {
        apiVersion: 'migration.harvesterhci.io/v1beta1',
        kind: 'VmwareSource',
        name: 'vcsim',
        namespace: 'default',
      },
    },
  };
}

async function eventually(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

async function expectApiError(
  p: Promise<unknown>,
  code: number,
): Promise<{ reason?: string; message?: string; details?: { causes?: { field?: string }[] } }> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ApiException, `expected ApiException, got ${String(err)}`);
    assert.equal(err.code, code, String(err.body));
    return (typeof err.body === 'string' ? JSON.parse(err.body) : (err.body ?? {})) as never;
  }
  assert.fail(`expected HTTP ${code}`);
}

describe('apiserver with client-node', () => {
  let server: TestApiServer;
  let kc: KubeConfig;
  let custom: CustomObjectsApi;
  let core: CoreV1Api;

  before(async () => {
    server = await startTestApiServer({ historyLimit: HISTORY });
    const applied = await server.kubectl(['apply', '-f', 'config/crds/']);
    assert.equal(applied.exitCode, 0, applied.stderr);
    kc = new KubeConfig();
    kc.loadFromFile(server.kubeconfigPath);
    custom = kc.makeApiClient(CustomObjectsApi);
    core = kc.makeApiClient(CoreV1Api);
  });

  after(async () => {
    await server.dispose();
  });

  it('an informer sees add, update and delete in order', async () => {
    const seen: string[] = [];
    const informer = makeInformer(
      kc,
      PATH,
      () =>
        custom.listNamespacedCustomObject({ ...GROUP, namespace: 'default' }) as Promise<
          KubernetesListObject<KubernetesObject>
        >,
    );
    informer.on('add', (o) => seen.push(`add ${o.metadata?.name}`));
    informer.on('update', (o) =>
      seen.push(
        `update ${o.metadata?.name} ${(o as { status?: { importStatus?: string } }).status?.importStatus}`,
      ),
    );
    informer.on('delete', (o) => seen.push(`delete ${o.metadata?.name}`));
    await informer.start();
    try {
      await custom.createNamespacedCustomObject({ ...GROUP, namespace: 'default', body: vmImport('inf') });
      await custom.patchNamespacedCustomObjectStatus(
        { ...GROUP, namespace: 'default', name: 'inf', body: { status: { importStatus: 'sourceReady' } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      await custom.deleteNamespacedCustomObject({ ...GROUP, namespace: 'default', name: 'inf' });
      await eventually(() => seen.length >= 3, 'three informer events');
      assert.deepEqual(seen, ['add inf', 'update inf sourceReady', 'delete inf']);
    } finally {
      await informer.stop();
    }
  });

  it('rejects a stale update with 409 Conflict and bumps generation only on spec changes', async () => {
    const created = (await custom.createNamespacedCustomObject({
      ...GROUP,
      namespace: 'default',
      body: vmImport('occ'),
    })) as KubernetesObject & { spec: Record<string, unknown> };
    assert.equal(created.metadata?.generation, 1);
    const first = { ...created, spec: { ...created.spec, folder: 'a' } };
    const updated = (await custom.replaceNamespacedCustomObject({
      ...GROUP,
      namespace: 'default',
      name: 'occ',
      body: first,
    })) as KubernetesObject;
    assert.equal(updated.metadata?.generation, 2);
    const stale = { ...created, spec: { ...created.spec, folder: 'b' } };
    const status = await expectApiError(
      custom.replaceNamespacedCustomObject({ ...GROUP, namespace: 'default', name: 'occ', body: stale }),
      409,
    );
    assert.equal(status.reason, 'Conflict');
    assert.match(status.message ?? '', /the object has been modified/);
    const withStatus = (await custom.patchNamespacedCustomObjectStatus(
      {
        ...GROUP,
        namespace: 'default',
        name: 'occ',
        body: { status: { importStatus: 'sourceReady' }, spec: { folder: 'ignored' } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )) as KubernetesObject & { spec: { folder: string } };
    assert.equal(withStatus.metadata?.generation, 2, 'status writes do not bump generation');
    assert.equal(withStatus.spec.folder, 'a', 'status writes ignore spec');
    const mainWrite = (await custom.patchNamespacedCustomObject(
      {
        ...GROUP,
        namespace: 'default',
        name: 'occ',
        body: [
          { op: 'replace', path: '/status/importStatus', value: 'ignored' },
          { op: 'add', path: '/metadata/labels', value: { a: 'b' } },
        ],
      },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    )) as KubernetesObject & { status: { importStatus: string } };
    assert.equal(mainWrite.status.importStatus, 'sourceReady', 'main resource writes ignore status');
    assert.equal(mainWrite.metadata?.generation, 2, 'metadata changes do not bump generation');
  });

  it('rejects a wrong-typed field with 422 Invalid naming the field', async () => {
    const body = vmImport('bad');
    (body['spec'] as Record<string, unknown>)['gracefulShutdownTimeoutSeconds'] = 'abc';
    const status = await expectApiError(
      custom.createNamespacedCustomObject({ ...GROUP, namespace: 'default', body }),
      422,
    );
    assert.equal(status.reason, 'Invalid');
    assert.deepEqual(
      status.details?.causes?.map((c) => c.field),
      ['spec.gracefulShutdownTimeoutSeconds'],
    );
  });

  it('a watch from a compacted resourceVersion gets 410 Gone and the informer recovers', async () => {
    const early = server.store.currentResourceVersion();
    for (let i = 0; i < HISTORY + 10; i++) {
      await core.createNamespacedConfigMap({
        namespace: 'default',
        body: { metadata: { name: `churn-${i}` }, data: { i: String(i) } },
      });
    }
    const errors: { type: string; code?: number; reason?: string }[] = [];
    await new Promise<void>((resolve) => {
      void new Watch(kc).watch(
        '/api/v1/namespaces/default/configmaps',
        { resourceVersion: early },
        (type, obj: { code?: number; reason?: string }) =>
          errors.push({ type, code: obj.code, reason: obj.reason }),
        () => resolve(),
      );
    });
    assert.deepEqual(errors, [{ type: 'ERROR', code: 410, reason: 'Expired' }]);

    // An informer whose last list is that old (as after a long disconnect) relists and catches up.
    let lists = 0;
    const listFn = async (): Promise<KubernetesListObject<KubernetesObject>> => {
      lists++;
      const list = await core.listNamespacedConfigMap({ namespace: 'default' });
      return lists === 1 ? { ...list, items: [], metadata: { resourceVersion: early } } : list;
    };
    const informer = makeInformer(kc, '/api/v1/namespaces/default/configmaps', listFn);
    await informer.start();
    try {
      await eventually(() => informer.list('default').length >= HISTORY + 10, 'informer to relist after 410');
      assert.ok(lists >= 2);
      await core.createNamespacedConfigMap({
        namespace: 'default',
        body: { metadata: { name: 'after-recovery' } },
      });
      await eventually(
        () => informer.get('after-recovery', 'default') !== undefined,
        'informer to see a new object',
      );
    } finally {
      await informer.stop();
    }
  });

  it('deleting an owner collects its dependents (background, foreground, orphan)', async () => {
    const owner = async (
      name: string,
    ): Promise<{ apiVersion: string; kind: string; name: string; uid: string }> => {
      const o = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name } } });
      return { apiVersion: 'v1', kind: 'ConfigMap', name, uid: o.metadata?.uid as string };
    };
    const dependent = (name: string, refs: Awaited<ReturnType<typeof owner>>[]): Promise<unknown> =>
      core.createNamespacedSecret({
        namespace: 'default',
        body: { metadata: { name, ownerReferences: refs } },
      });
    const exists = async (name: string): Promise<boolean> =>
      (await core.listNamespacedSecret({ namespace: 'default', fieldSelector: `metadata.name=${name}` }))
        .items.length > 0;

    const a = await owner('owner-a');
    const b = await owner('owner-b');
    await dependent('dep-a', [a]);
    await dependent('dep-ab', [a, b]);
    await core.deleteNamespacedConfigMap({ namespace: 'default', name: 'owner-a' });
    await eventually(async () => !(await exists('dep-a')), 'dep-a to be collected');
    assert.ok(await exists('dep-ab'), 'a dependent with a remaining owner stays');
    await core.deleteNamespacedConfigMap({
      namespace: 'default',
      name: 'owner-b',
      propagationPolicy: 'Background',
    });
    await eventually(async () => !(await exists('dep-ab')), 'dep-ab to be collected');

    const f = await owner('owner-fg');
    await core.createNamespacedSecret({
      namespace: 'default',
      body: { metadata: { name: 'dep-fg', ownerReferences: [f], finalizers: ['test/hold'] } },
    });
    await core.deleteNamespacedConfigMap({
      namespace: 'default',
      name: 'owner-fg',
      propagationPolicy: 'Foreground',
    });
    const waiting = await core.readNamespacedConfigMap({ namespace: 'default', name: 'owner-fg' });
    assert.ok(waiting.metadata?.deletionTimestamp, 'foreground owner waits for its dependents');
    assert.deepEqual(waiting.metadata?.finalizers, ['foregroundDeletion']);
    await core.patchNamespacedSecret(
      { namespace: 'default', name: 'dep-fg', body: { metadata: { finalizers: null } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await eventually(
      async () =>
        (
          await core.listNamespacedConfigMap({
            namespace: 'default',
            fieldSelector: 'metadata.name=owner-fg',
          })
        ).items.length === 0,
      'foreground owner to go',
    );

    const o = await owner('owner-orphan');
    await dependent('dep-orphan', [o]);
    await core.deleteNamespacedConfigMap({
      namespace: 'default',
      name: 'owner-orphan',
      propagationPolicy: 'Orphan',
    });
    await eventually(
      async () =>
        (
          await core.listNamespacedConfigMap({
            namespace: 'default',
            fieldSelector: 'metadata.name=owner-orphan',
          })
        ).items.length === 0,
      'orphaning owner to go',
    );
    const orphan = await core.readNamespacedSecret({ namespace: 'default', name: 'dep-orphan' });
    assert.equal(orphan.metadata?.ownerReferences, undefined);
  });

  it('generateName, label selectors (set-based) and field selectors', async () => {
    const made = await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { generateName: 'gen-', labels: { tier: 'web', env: 'prod' } } },
    });
    assert.match(made.metadata?.name ?? '', /^gen-[a-z0-9]{5}$/);
    await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'sel-dev', labels: { tier: 'web', env: 'dev' } } },
    });
    await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'sel-db', labels: { tier: 'db' } } },
    });
    const names = async (labelSelector: string): Promise<string[]> =>
      (await core.listNamespacedConfigMap({ namespace: 'default', labelSelector })).items
        .map((i) => i.metadata?.name as string)
        .sort();
    assert.deepEqual(await names('tier=web,env in (dev)'), ['sel-dev']);
    assert.deepEqual(await names('tier in (web,db),env notin (prod)'), ['sel-db', 'sel-dev']);
    assert.deepEqual(await names('tier,!env'), ['sel-db']);
    // like Kubernetes, != also selects objects without the label
    assert.ok((await names('tier!=web')).includes('churn-0'));
    assert.deepEqual(await names('tier,tier!=web'), ['sel-db']);
    const all = await core.listConfigMapForAllNamespaces({
      fieldSelector: 'metadata.namespace=default,metadata.name=sel-db',
    });
    assert.deepEqual(
      all.items.map((i) => i.metadata?.name),
      ['sel-db'],
    );
    const firstPage = await core.listNamespacedConfigMap({
      namespace: 'default',
      labelSelector: 'tier',
      limit: 2,
    });
    assert.equal(firstPage.items.length, 2);
    assert.ok(firstPage.metadata?._continue, 'a continue token for the rest');
    const secondPage = await core.listNamespacedConfigMap({
      namespace: 'default',
      labelSelector: 'tier',
      limit: 2,
      _continue: firstPage.metadata?._continue,
    });
    assert.deepEqual(
      [...firstPage.items, ...secondPage.items].map((i) => i.metadata?.name).sort(),
      [made.metadata?.name, 'sel-db', 'sel-dev'].sort(),
    );
    assert.equal(secondPage.metadata?._continue, undefined);
    const dup = await expectApiError(
      core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'sel-db' } } }),
      409,
    );
    assert.equal(dup.reason, 'AlreadyExists');
    const missing = await expectApiError(
      core.readNamespacedConfigMap({ namespace: 'default', name: 'nope' }),
      404,
    );
    assert.equal(missing.reason, 'NotFound');
  });

  it('a watch can send initial events and bookmarks', async () => {
    await core.createNamespace({ body: { metadata: { name: 'bookmarks' } } });
    await core.createNamespacedConfigMap({ namespace: 'bookmarks', body: { metadata: { name: 'one' } } });
    await core.createNamespacedConfigMap({ namespace: 'bookmarks', body: { metadata: { name: 'two' } } });
    const events: string[] = [];
    let controller: AbortController | undefined;
    await new Promise<void>((resolve) => {
      void new Watch(kc)
        .watch(
          '/api/v1/namespaces/bookmarks/configmaps',
          {
            sendInitialEvents: true,
            resourceVersionMatch: 'NotOlderThan',
            allowWatchBookmarks: true,
            resourceVersion: '',
          },
          (type, obj: KubernetesObject) => {
            events.push(
              type === 'BOOKMARK'
                ? `BOOKMARK ${obj.metadata?.annotations?.['k8s.io/initial-events-end'] ?? ''}`
                : `${type} ${obj.metadata?.name}`,
            );
            if (type === 'BOOKMARK') resolve();
          },
          () => resolve(),
        )
        .then((c) => (controller = c));
    });
    controller?.abort();
    assert.deepEqual(events.sort(), ['ADDED one', 'ADDED two', 'BOOKMARK true']);
  });

  it('deleting a CRD stops serving its resources and removes its objects', async () => {
    const crd = parseYaml(
      await readFile(
        join(await thirdPartyCrdDir(), 'network-attachment-definitions.k8s.cni.cncf.io.yaml'),
        'utf8',
      ),
    ) as V1CustomResourceDefinition;
    const ext = kc.makeApiClient(ApiextensionsV1Api);
    await ext.createCustomResourceDefinition({ body: crd });
    const nad = {
      group: 'k8s.cni.cncf.io',
      version: 'v1',
      plural: 'network-attachment-definitions',
      namespace: 'default',
    };
    await eventually(async () => {
      const c = await ext.readCustomResourceDefinition({ name: crd.metadata?.name as string });
      return c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True') ?? false;
    }, 'CRD to be established');
    await custom.createNamespacedCustomObject({
      ...nad,
      body: {
        apiVersion: 'k8s.cni.cncf.io/v1',
        kind: 'NetworkAttachmentDefinition',
        metadata: { name: 'vlan1' },
        spec: { config: '{}' },
      },
    });
    assert.equal(((await custom.listNamespacedCustomObject(nad)) as { items: unknown[] }).items.length, 1);
    await ext.deleteCustomResourceDefinition({ name: crd.metadata?.name as string });
    await expectApiError(custom.listNamespacedCustomObject(nad), 404);
    await ext.createCustomResourceDefinition({ body: crd });
    assert.equal(((await custom.listNamespacedCustomObject(nad)) as { items: unknown[] }).items.length, 0);
  });

  it('rejects a wrong token with 401 Unauthorized', async () => {
    const bad = new KubeConfig();
    const exported = JSON.parse(kc.exportConfig()) as { users: { user: { token?: string } }[] };
    for (const u of exported.users) u.user.token = 'wrong';
    bad.loadFromString(JSON.stringify(exported));
    await expectApiError(bad.makeApiClient(CoreV1Api).listNamespace(), 401);
    // client-node drops 401 bodies; the Status itself is checked over plain HTTPS
    const body = await new Promise<string>((resolve, reject) => {
      const req = request(
        `${server.url}/api/v1/namespaces`,
        { ca: server.caCertPem, headers: { Authorization: 'Bearer wrong' } },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve(text));
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.deepEqual(JSON.parse(body), {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Unauthorized',
      reason: 'Unauthorized',
      code: 401,
    });
  });
});
