// The embedded API server against the real kubectl binary.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { TestApiServer } from '../../local-cluster/apiserver/testing.ts';
import { startTestApiServer } from '../../local-cluster/apiserver/testing.ts';
import { thirdPartyCrdDir } from '../../local-cluster/components/crds.ts';

const VMI_API = { apiVersion: 'migration.harvesterhci.io/v1beta1', kind: 'VirtualMachineImport' };

function vmImport(name: string, extra = ''): string {
  return `apiVersion: migration.harvesterhci.io/v1beta1
kind: VirtualMachineImport
metadata:
  name: ${name}
  namespace: default
spec:
  virtualMachineName: vm-${name}
  sourceCluster:
    apiVersion: migration.harvesterhci.io/v1beta1
    kind: VmwareSource
    name: vcsim
    namespace: default
${extra}`;
}

/** Starts a long-running kubectl and resolves once its stdout satisfies `until`. */
function streamKubectl(
  server: TestApiServer,
  args: string[],
): { output: () => string; waitFor: (re: RegExp) => Promise<void>; stop: () => void } {
  const child = spawn('kubectl', [
    '--kubeconfig',
    server.kubeconfigPath,
    '--cache-dir',
    `${server.dataDir}/kube-cache`,
    ...args,
  ]);
  let out = '';
  const listeners = new Set<() => void>();
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    for (const l of listeners) l();
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  return {
    output: () => out,
    waitFor: (re) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re} in:\n${out}`)), 15_000);
        const check = (): void => {
          if (re.test(out)) {
            clearTimeout(timer);
            listeners.delete(check);
            resolve();
          }
        };
        listeners.add(check);
        check();
      }),
    stop: () => child.kill(),
  };
}

describe('apiserver with kubectl', () => {
  let server: TestApiServer;

  before(async () => {
    server = await startTestApiServer();
    const crds = await server.kubectl([
      'apply',
      '--server-side', // KubeVirt's CRDs exceed the 256 KiB of kubectl's last-applied annotation
      '-f',
      'config/crds/',
      '-f',
      await thirdPartyCrdDir(),
    ]);
    assert.equal(crds.exitCode, 0, crds.stderr);
    const established = await server.kubectl([
      'wait',
      '--for=condition=Established',
      'crd',
      '--all',
      '--timeout=10s',
    ]);
    assert.equal(established.exitCode, 0, established.stderr);
  });

  after(async () => {
    await server.dispose();
  });

  it('resolves CRD kinds by group-qualified names and short names with printer columns', async () => {
    const source = `apiVersion: migration.harvesterhci.io/v1beta1
kind: VmwareSource
metadata: {name: vcsim, namespace: default}
spec:
  endpoint: https://127.0.0.1/sdk
  dc: DC0
  credentials: {name: vcsim-credentials, namespace: default}
`;
    const applied = await server.kubectl(['apply', '-f', '-'], { input: source });
    assert.equal(applied.exitCode, 0, applied.stderr);
    assert.match(applied.stdout, /vmwaresource.migration.harvesterhci.io\/vcsim created/);
    server.store.patch(
      { apiVersion: 'migration.harvesterhci.io/v1beta1', kind: 'VmwareSource' },
      'default',
      'vcsim',
      'merge',
      { status: { status: 'clusterReady' } },
      { subresource: 'status' },
    );
    const got = await server.kubectl(['get', 'vmwaresource.migration']);
    assert.equal(got.exitCode, 0, got.stderr);
    assert.match(got.stdout, /^NAME\s+STATUS\s+AGE\n/);
    assert.match(got.stdout, /^vcsim\s+clusterReady\s+\d+s$/m);
    const short = await server.kubectl(['get', 'vmwaresrc', '-o', 'name']);
    assert.equal(short.stdout.trim(), 'vmwaresource.migration.harvesterhci.io/vcsim');
    const vms = await server.kubectl(['get', 'vm,vmi,vmimage,net-attach-def,ksvc', '-A']);
    assert.equal(vms.exitCode, 0, vms.stderr);
    assert.match(vms.stderr, /No resources found/);
  });

  it('explains CRD fields with their schema descriptions', async () => {
    const explained = await server.kubectl(['explain', 'virtualmachineimport.spec.networkMapping']);
    assert.equal(explained.exitCode, 0, explained.stderr);
    assert.match(explained.stdout, /KIND:\s+VirtualMachineImport/);
    assert.match(explained.stdout, /FIELD: networkMapping <\[\]Object>/);
    assert.match(explained.stdout, /Source network to Harvester network mappings/);
    assert.match(explained.stdout, /sourceNetwork\s+<string>/);
  });

  it('rejects a wrong-typed field with 422 naming the field, and unknown fields under strict validation', async () => {
    const wrong = await server.kubectl(['apply', '-f', '-'], {
      input: vmImport('typed', '  gracefulShutdownTimeoutSeconds: "abc"\n').replace('spec:\n', 'spec:\n'),
    });
    assert.notEqual(wrong.exitCode, 0);
    assert.match(
      wrong.stderr,
      /spec\.gracefulShutdownTimeoutSeconds: Invalid value: "string": spec\.gracefulShutdownTimeoutSeconds in body must be of type integer: "string"/,
    );
    const unknown = await server.kubectl(['apply', '-f', '-'], {
      input: vmImport('unknown', '  notAField: 1\n'),
    });
    assert.notEqual(unknown.exitCode, 0);
    assert.match(unknown.stderr, /strict decoding error: unknown field "spec.notAField"/);
    const enumBad = await server.kubectl(['create', '-f', '-'], {
      input: vmImport('enum', '  defaultDiskBusType: floppy\n'),
    });
    assert.match(enumBad.stderr, /spec\.defaultDiskBusType: Unsupported value: "floppy": supported values:/);
  });

  it('rejects unknown fields of built-in kinds under strict validation and prunes them otherwise', async () => {
    const job = `apiVersion: batch/v1
kind: Job
metadata: {name: typo, namespace: default}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: main
          image: busybox
          imagePullPolicyy: Never
`;
    const strict = await server.kubectl(['apply', '-f', '-'], { input: job });
    assert.notEqual(strict.exitCode, 0);
    assert.match(
      strict.stderr,
      /Job in version "v1" cannot be handled as a Job: strict decoding error: unknown field "spec.template.spec.containers\[0\].imagePullPolicyy"/,
    );
    const warned = await server.kubectl(['apply', '--validate=warn', '-f', '-'], { input: job });
    assert.equal(warned.exitCode, 0, warned.stderr);
    assert.match(
      warned.stderr,
      /Warning: unknown field "spec.template.spec.containers\[0\].imagePullPolicyy"/,
    );
    const stored = await server.kubectl([
      'get',
      'job',
      'typo',
      '-o',
      'jsonpath={.spec.template.spec.containers[0]}',
    ]);
    const container = JSON.parse(stored.stdout) as Record<string, unknown>;
    assert.deepEqual(container, { name: 'main', image: 'busybox' }, 'the unknown field is pruned');
    const noImage = await server.kubectl(['apply', '-f', '-'], {
      input: job
        .replace('name: typo', 'name: no-image')
        .replace('          image: busybox\n', '')
        .replace('          imagePullPolicyy: Never\n', ''),
    });
    assert.match(
      noImage.stderr,
      /The Job "no-image" is invalid: spec.template.spec.containers\[0\].image: Required value/,
    );
  });

  it('describes objects with their events', async () => {
    const created = await server.kubectl(['apply', '-f', '-'], { input: vmImport('described') });
    assert.equal(created.exitCode, 0, created.stderr);
    const vmi = server.store.get(VMI_API, 'default', 'described');
    server.store.create({ apiVersion: 'v1', kind: 'Event' }, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: 'described.', namespace: 'default' },
      involvedObject: {
        ...VMI_API,
        name: 'described',
        namespace: 'default',
        uid: vmi.metadata.uid as string,
      },
      reason: 'ImportStarted',
      message: 'exporting disks from the source',
      type: 'Normal',
      count: 1,
      firstTimestamp: new Date().toISOString(),
      lastTimestamp: new Date().toISOString(),
      source: { component: 'vm-import' },
    } as never);
    server.store.create({ apiVersion: 'events.k8s.io/v1', kind: 'Event' }, {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { generateName: 'described.', namespace: 'default' },
      regarding: { ...VMI_API, name: 'described', namespace: 'default', uid: vmi.metadata.uid as string },
      reason: 'DisksExported',
      note: 'exported 2 disks',
      type: 'Normal',
      action: 'Export',
      eventTime: new Date().toISOString().replace(/Z$/, '000Z'),
      reportingController: 'vm-import',
      reportingInstance: 'vm-import-export',
    } as never);
    const viaEventsApi = server.store.list(
      { apiVersion: 'events.k8s.io/v1', kind: 'Event' },
      { namespace: 'default', fieldSelector: 'regarding.name=described' },
    );
    assert.deepEqual(viaEventsApi.items.map((e) => e['note'] ?? e['message']).sort(), [
      'exported 2 disks',
      'exporting disks from the source',
    ]);
    assert.throws(
      () =>
        server.store.create({ apiVersion: 'v1', kind: 'Event' }, {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { name: 'millis', namespace: 'default' },
          eventTime: new Date().toISOString(),
        } as never),
      /cannot be handled as a Event: parsing time/,
      'eventTime is a MicroTime, as on a real API server',
    );
    const described = await server.kubectl(['describe', 'virtualmachineimport', 'described']);
    assert.equal(described.exitCode, 0, described.stderr);
    assert.match(described.stdout, /^Name:\s+described$/m);
    assert.match(described.stdout, /Virtual Machine Name:\s+vm-described/);
    assert.match(described.stdout, /Normal\s+ImportStarted\s+.*exporting disks from the source/);
    assert.match(described.stdout, /Normal\s+DisksExported\s+.*exported 2 disks/);
  });

  it('keeps an object with a finalizer terminating until the finalizer is removed', async () => {
    const created = await server.kubectl(['apply', '-f', '-'], {
      input: vmImport('held').replace(
        '  namespace: default\n',
        '  namespace: default\n  finalizers: [migration.harvesterhci.io/cleanup]\n',
      ),
    });
    assert.equal(created.exitCode, 0, created.stderr);
    const deleted = await server.kubectl(['delete', 'vmimport', 'held', '--wait=false']);
    assert.equal(deleted.exitCode, 0, deleted.stderr);
    const still = await server.kubectl([
      'get',
      'vmimport',
      'held',
      '-o',
      'jsonpath={.metadata.deletionTimestamp}',
    ]);
    assert.equal(still.exitCode, 0, still.stderr);
    assert.match(still.stdout, /^\d{4}-\d\d-\d\dT/);
    const waiter = server.kubectl(['wait', '--for=delete', 'vmimport/held', '--timeout=15s']);
    const patched = await server.kubectl([
      'patch',
      'vmimport',
      'held',
      '--type=merge',
      '-p',
      '{"metadata":{"finalizers":null}}',
    ]);
    assert.equal(patched.exitCode, 0, patched.stderr);
    const waited = await waiter;
    assert.equal(waited.exitCode, 0, waited.stderr);
    const gone = await server.kubectl(['get', 'vmimport', 'held']);
    assert.match(gone.stderr, /NotFound.*"held" not found/);
  });

  it('kubectl wait --for=jsonpath returns once the status is set', async () => {
    assert.equal((await server.kubectl(['apply', '-f', '-'], { input: vmImport('waited') })).exitCode, 0);
    const waiter = server.kubectl([
      'wait',
      'vmimport/waited',
      '--for=jsonpath={.status.importStatus}=virtualMachineRunning',
      '--timeout=15s',
    ]);
    await new Promise((r) => setTimeout(r, 500));
    server.store.patch(
      VMI_API,
      'default',
      'waited',
      'merge',
      { status: { importStatus: 'disksExported' } },
      { subresource: 'status' },
    );
    await new Promise((r) => setTimeout(r, 200));
    server.store.patch(
      VMI_API,
      'default',
      'waited',
      'merge',
      { status: { importStatus: 'virtualMachineRunning' } },
      { subresource: 'status' },
    );
    const waited = await waiter;
    assert.equal(waited.exitCode, 0, waited.stderr);
    assert.match(waited.stdout, /condition met/);
  });

  it('kubectl get -w streams changes', async () => {
    const watch = streamKubectl(server, ['get', 'vmimport', '-w', '--output-watch-events']);
    try {
      await watch.waitFor(/NAME/);
      assert.equal((await server.kubectl(['apply', '-f', '-'], { input: vmImport('streamed') })).exitCode, 0);
      await watch.waitFor(/ADDED\s+streamed/);
      server.store.patch(
        VMI_API,
        'default',
        'streamed',
        'merge',
        { status: { importStatus: 'sourceReady' } },
        { subresource: 'status' },
      );
      await watch.waitFor(/MODIFIED\s+streamed\s+sourceReady/);
      assert.equal((await server.kubectl(['delete', 'vmimport', 'streamed'])).exitCode, 0);
      await watch.waitFor(/DELETED\s+streamed/);
    } finally {
      watch.stop();
    }
  });

  it('applies built-ins twice with strategic merge of containers and env', async () => {
    const deployment = (env: string, image: string): string => `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: main
          image: nginx
          env: [${env}]
        - name: side
          image: ${image}
`;
    assert.equal(
      (
        await server.kubectl(['apply', '-f', '-'], {
          input: deployment('{name: A, value: "1"}, {name: B, value: "2"}', 'busybox'),
        })
      ).exitCode,
      0,
    );
    const again = await server.kubectl(['apply', '-f', '-'], {
      input: deployment('{name: A, value: "1"}, {name: C, value: "3"}', 'alpine'),
    });
    assert.equal(again.exitCode, 0, again.stderr);
    assert.match(again.stdout, /deployment.apps\/web configured/);
    const got = await server.kubectl([
      'get',
      'deploy',
      'web',
      '-o',
      'jsonpath={.spec.template.spec.containers[*].image} {.spec.template.spec.containers[0].env[*].name} {.metadata.generation}',
    ]);
    assert.equal(got.stdout, 'nginx alpine A C 2');
  });

  it('kubectl create of namespaces, secrets and configmaps (protobuf bodies) works', async () => {
    assert.equal((await server.kubectl(['create', 'namespace', 'imports'])).exitCode, 0);
    const secret = await server.kubectl([
      'create',
      'secret',
      'generic',
      'creds',
      '-n',
      'imports',
      '--from-literal=username=admin',
    ]);
    assert.equal(secret.exitCode, 0, secret.stderr);
    const data = await server.kubectl([
      'get',
      'secret',
      'creds',
      '-n',
      'imports',
      '-o',
      'jsonpath={.data.username}',
    ]);
    assert.equal(Buffer.from(data.stdout, 'base64').toString(), 'admin');
    const missing = await server.kubectl(['create', 'configmap', 'x', '-n', 'does-not-exist']);
    assert.match(missing.stderr, /namespaces "does-not-exist" not found/);
  });

  it('server-side apply removes fields its manager no longer applies', async () => {
    const cm = (data: string): string =>
      `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: applied, namespace: default}\ndata: {${data}}\n`;
    assert.equal(
      (await server.kubectl(['apply', '--server-side', '-f', '-'], { input: cm('a: "1"') })).exitCode,
      0,
    );
    assert.equal(
      (await server.kubectl(['patch', 'configmap', 'applied', '-p', '{"data":{"other":"kept"}}'])).exitCode,
      0,
    );
    const again = await server.kubectl(['apply', '--server-side', '-f', '-'], { input: cm('b: "2"') });
    assert.equal(again.exitCode, 0, again.stderr);
    const data = await server.kubectl(['get', 'configmap', 'applied', '-o', 'jsonpath={.data}']);
    assert.deepEqual(JSON.parse(data.stdout), { b: '2', other: 'kept' });
  });

  it('deleting a namespace removes its content, then the namespace', async () => {
    assert.equal((await server.kubectl(['create', 'namespace', 'doomed'])).exitCode, 0);
    assert.equal((await server.kubectl(['create', 'configmap', 'inside', '-n', 'doomed'])).exitCode, 0);
    const deleted = await server.kubectl(['delete', 'namespace', 'doomed', '--timeout=15s']);
    assert.equal(deleted.exitCode, 0, deleted.stderr);
    assert.match((await server.kubectl(['get', 'namespace', 'doomed'])).stderr, /not found/);
    assert.match((await server.kubectl(['get', 'configmap', 'inside', '-n', 'doomed'])).stderr, /not found/);
  });

  it('kubectl logs reads from the registered pod log provider', async () => {
    server.store.create({ apiVersion: 'v1', kind: 'Pod' }, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'exporter', namespace: 'default' },
      spec: { containers: [{ name: 'main', image: 'local' }] },
    } as never);
    const before = await server.kubectl(['logs', 'exporter']);
    assert.match(before.stderr, /no log provider is registered/);
    server.setPodLogProvider(async ({ namespace, pod, container, follow }) =>
      follow
        ? Readable.from([`${namespace}/${pod}/${container ?? ''} line 1\n`, 'line 2\n'])
        : `${namespace}/${pod}/${container ?? ''} all\n`,
    );
    const logs = await server.kubectl(['logs', 'exporter', '-c', 'main']);
    assert.equal(logs.stdout, 'default/exporter/main all');
    const followed = await server.kubectl(['logs', '-f', 'exporter', '-c', 'main']);
    assert.equal(followed.stdout, 'default/exporter/main line 1\nline 2');
    const missing = await server.kubectl(['logs', 'nope']);
    assert.match(missing.stderr, /pods "nope" not found/);
  });

  it('answers a wrong token with 401', async () => {
    const denied = await server.kubectl(['get', 'pods', '--token', 'not-the-token']);
    assert.notEqual(denied.exitCode, 0);
    assert.match(denied.stderr, /Unauthorized|You must be logged in/);
  });
});
