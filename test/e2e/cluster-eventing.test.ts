// End to end through the local cluster and Knative Eventing's own components: kubectl applies a
// VirtualMachineImport; Knative's ApiServerSource adapter (mode Resource) turns it into a
// CloudEvent; its MT channel-based Broker routes it through Triggers (subscriptions-API and legacy
// filters) to probe functions served by faas-js-runtime in their own sandboxed pods (read back with
// `kubectl logs`); a failing subscriber is retried and then dead-lettered.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalCluster, type LocalCluster } from '../../local-cluster/cluster.ts';
import { PROBE_RECORD_TAG } from '../../local-cluster/images/event-probe/index.ts';
import { EVENT_PROBE_IMAGE } from '../../local-cluster/runtime/node-agent/images.ts';

let cluster: LocalCluster;
let stateDir: string;

function probeService(name: string, env: Record<string, string>): string {
  return `
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: ${name}
  namespace: events-test
  labels: {functions.vm-import.harvesterhci.io/name: ${name}}
spec:
  template:
    spec:
      containers:
        - name: function
          image: ${EVENT_PROBE_IMAGE}
          ports: [{containerPort: 8080}]
          env:
${Object.entries(env)
  .map(([k, v]) => `            - {name: ${k}, value: "${v}"}`)
  .join('\n')}
---`;
}

before(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'cluster-eventing-'));
  const manifests = join(stateDir, 'eventing-test.yaml');
  await writeFile(
    manifests,
    `apiVersion: v1
kind: Namespace
metadata: {name: events-test}
---
${probeService('probe', {})}
${probeService('legacy-probe', {})}
${probeService('failing-probe', { PROBE_STATUS: '503' })}
${probeService('dead-letter-probe', {})}
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: test-broker, namespace: events-test}
spec:
  delivery:
    retry: 2
    backoffPolicy: linear
    backoffDelay: PT0.2S
    deadLetterSink:
      ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: dead-letter-probe}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: imports-source, namespace: events-test}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: imports-source, namespace: events-test}
rules:
  - apiGroups: [migration.harvesterhci.io]
    resources: [virtualmachineimports]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: imports-source, namespace: events-test}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: imports-source}
subjects: [{kind: ServiceAccount, name: imports-source, namespace: events-test}]
---
apiVersion: sources.knative.dev/v1
kind: ApiServerSource
metadata: {name: imports, namespace: events-test}
spec:
  mode: Resource
  # The source watches with this account's token: it needs get/list/watch on what it watches.
  serviceAccountName: imports-source
  resources:
    - {apiVersion: migration.harvesterhci.io/v1beta1, kind: VirtualMachineImport}
  sink:
    ref: {apiVersion: eventing.knative.dev/v1, kind: Broker, name: test-broker}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: imports-add-update, namespace: events-test}
spec:
  broker: test-broker
  filters:
    - exact: {kind: VirtualMachineImport, apiversion: migration.harvesterhci.io/v1beta1}
    - any:
        - exact: {type: dev.knative.apiserver.resource.add}
        - exact: {type: dev.knative.apiserver.resource.update}
  subscriber:
    ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: probe}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: legacy-by-name, namespace: events-test}
spec:
  broker: test-broker
  filter:
    attributes: {type: dev.knative.apiserver.resource.add, name: second-import}
  subscriber:
    ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: legacy-probe}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: failing, namespace: events-test}
spec:
  broker: test-broker
  filters:
    - prefix: {name: fail-}
    - not: {exact: {type: dev.knative.apiserver.resource.delete}}
  subscriber:
    ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: failing-probe}
`,
  );
  cluster = await startLocalCluster({
    stateDir,
    sources: false,
    applyConfig: false,
    extraManifests: [manifests],
  });
});

after(async () => {
  await cluster?.stop();
  if (!process.env.KEEP_TEST_STATE) await rm(stateDir, { recursive: true, force: true });
});

/** What a probe function received, read the way a user reads function logs: `kubectl logs`. */
async function lines(service: string): Promise<any[]> {
  const logs = await cluster.kubectl([
    'logs',
    '-n',
    'events-test',
    '-l',
    `serving.knative.dev/service=${service}`,
    '--tail=-1',
  ]);
  return logs
    .split('\n')
    .filter((l) => l.startsWith(`${PROBE_RECORD_TAG} `))
    .map((l) => JSON.parse(l.slice(PROBE_RECORD_TAG.length + 1)));
}

async function waitForLines(name: string, pred: (l: any[]) => boolean, timeoutMs = 20_000): Promise<any[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const l = await lines(name);
    if (pred(l)) return l;
    if (Date.now() > deadline) throw new Error(`timed out waiting on ${name}: ${JSON.stringify(l)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const vmi = (name: string) => `apiVersion: migration.harvesterhci.io/v1beta1
kind: VirtualMachineImport
metadata: {name: ${name}, namespace: events-test}
spec:
  virtualMachineName: alpine-export-test
  networkMapping:
    - {sourceNetwork: "dvSwitch 1", destinationNetwork: "default/vlan1"}
  sourceCluster: {name: vcsim, namespace: default, kind: VmwareSource, apiVersion: migration.harvesterhci.io/v1beta1}
`;

test("Knative Eventing's own components run as pods of its Deployments; its controllers make the source, broker and triggers Ready", async () => {
  const json = async (args: string[]) =>
    JSON.parse(await cluster.kubectl([...args, '-o', 'json'])).items as any[];
  const deployments = await json(['get', 'deployments', '-n', 'knative-eventing']);
  const running = deployments
    .filter((d) => (d.spec.replicas ?? 1) > 0)
    .map((d) => d.metadata.name)
    .sort();
  assert.deepEqual(running, [
    'eventing-controller',
    'eventing-webhook',
    'imc-controller',
    'imc-dispatcher',
    'mt-broker-controller',
    'mt-broker-filter',
    'mt-broker-ingress',
  ]);
  for (const d of deployments.filter((x) => (x.spec.replicas ?? 1) > 0))
    assert.equal(d.status.availableReplicas, 1, `${d.metadata.name} has its pod available`);
  const pods = await json(['get', 'pods', '-n', 'knative-eventing']);
  for (const p of pods) {
    assert.match(
      p.spec.containers[0].image,
      /^ko\.local\/knative\.dev\/eventing\/cmd\//,
      "Knative's own program",
    );
    assert.notEqual(
      p.spec.serviceAccountName,
      'default',
      `${p.metadata.name} runs with its own service account`,
    );
  }
  // The ApiServerSource's adapter is the Deployment Knative's controller made for it.
  const adapters = await json([
    'get',
    'deployments',
    '-n',
    'events-test',
    '-l',
    'eventing.knative.dev/source=apiserver-source-controller',
  ]);
  assert.equal(adapters.length, 1);
  assert.match(adapters[0].spec.template.spec.containers[0].image, /apiserver_receive_adapter/);
  const ready = (o: any) => o.status?.conditions?.find((c: any) => c.type === 'Ready')?.status;
  const [source] = await json(['get', 'apiserversources', '-n', 'events-test']);
  assert.equal(ready(source), 'True', JSON.stringify(source.status));
  for (const type of ['Deployed', 'SinkProvided', 'SufficientPermissions'])
    assert.equal(source.status.conditions.find((c: any) => c.type === type)?.status, 'True', type);
  const [broker] = await json(['get', 'brokers', '-n', 'events-test']);
  assert.equal(ready(broker), 'True');
  assert.match(
    broker.status.address.url,
    /^http:\/\/broker-ingress\.knative-eventing\.svc\.cluster\.local\/events-test\/test-broker$/,
  );
  const triggers = await json(['get', 'triggers', '-n', 'events-test']);
  for (const t of triggers) assert.equal(ready(t), 'True', t.metadata.name);
  // The broker's channel and one subscription per trigger, as the MT channel-based broker makes them.
  const channels = await json(['get', 'inmemorychannels', '-n', 'events-test']);
  assert.equal(channels.length, 1);
  assert.equal(ready(channels[0]), 'True');
  const subscriptions = await json(['get', 'subscriptions', '-n', 'events-test']);
  assert.equal(subscriptions.length, triggers.length);
});

test('kubectl apply of a VirtualMachineImport reaches the probe as an ApiServerSource event', async () => {
  const ksvc = JSON.parse(await cluster.kubectl(['get', 'ksvc', 'probe', '-n', 'events-test', '-o', 'json']));
  assert.equal(ksvc.status.url, 'http://probe.events-test.svc.cluster.local');
  assert.equal(ksvc.status.conditions.find((c: any) => c.type === 'Ready').status, 'True');

  await cluster.kubectl(['apply', '-f', '-'], vmi('first-import'));
  const [got] = await waitForLines('probe', (l) => l.length >= 1);
  const created = JSON.parse(
    await cluster.kubectl(['get', 'virtualmachineimport', 'first-import', '-n', 'events-test', '-o', 'json']),
  );
  const a = got.attributes;
  assert.equal(a.specversion, '1.0');
  assert.equal(a.type, 'dev.knative.apiserver.resource.add');
  // Knative's adapter names the API server as its in-cluster client reaches it: the kubernetes
  // Service (pkg/adapter/apiserver/adapter_injection.go: source = the rest config's Host).
  const apiService = await cluster.kubectl([
    'get',
    'service',
    'kubernetes',
    '-n',
    'default',
    '-o',
    'jsonpath={.spec.clusterIP}',
  ]);
  assert.equal(a.source, `https://${apiService}:443`);
  assert.equal(
    a.subject,
    '/apis/migration.harvesterhci.io/v1beta1/namespaces/events-test/virtualmachineimports/first-import',
  );
  assert.equal(a.kind, 'VirtualMachineImport');
  assert.equal(a.name, 'first-import');
  assert.equal(a.namespace, 'events-test');
  assert.equal(a.apiversion, 'migration.harvesterhci.io/v1beta1');
  assert.equal(a.datacontenttype, 'application/json');
  assert.match(a.id, /^[0-9a-f-]{36}$/);
  assert.ok(!Number.isNaN(Date.parse(a.time)));
  assert.ok(a.knativearrivaltime, 'the broker stamps knativearrivaltime');
  // Binary content mode: attributes in ce-* headers, the object as the JSON body.
  assert.equal(got.ceHeaders['ce-type'], 'dev.knative.apiserver.resource.add');
  assert.equal(got.ceHeaders['ce-kind'], 'VirtualMachineImport');
  assert.match(got.contentType, /^application\/json/);
  assert.equal(got.data.metadata.uid, created.metadata.uid);
  assert.equal(got.data.metadata.resourceVersion, created.metadata.resourceVersion);
  assert.deepEqual(got.data.spec, created.spec);

  // An update is delivered; a delete is filtered out by the any/exact filter.
  await cluster.kubectl([
    'annotate',
    'virtualmachineimport',
    'first-import',
    '-n',
    'events-test',
    'touched=1',
  ]);
  const afterUpdate = await waitForLines('probe', (l) =>
    l.some((x) => x.attributes.type.endsWith('.update')),
  );
  assert.equal(
    afterUpdate.filter((x) => x.attributes.type.endsWith('.update'))[0].data.metadata.annotations.touched,
    '1',
  );
  await cluster.kubectl(['delete', 'virtualmachineimport', 'first-import', '-n', 'events-test']);
  await new Promise((r) => setTimeout(r, 1000));
  assert.ok((await lines('probe')).every((x) => !x.attributes.type.endsWith('.delete')));
  // The legacy trigger only wanted adds of "second-import".
  assert.equal((await lines('legacy-probe')).length, 0);
});

test('legacy filter.attributes matches exactly', async () => {
  await cluster.kubectl(['apply', '-f', '-'], vmi('second-import'));
  const got = await waitForLines('legacy-probe', (l) => l.length >= 1);
  assert.equal(got[0].attributes.name, 'second-import');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await lines('legacy-probe')).length, 1);
});

test('a failing subscriber is retried, then the event goes to the dead letter sink', async () => {
  await cluster.kubectl(['apply', '-f', '-'], vmi('fail-import'));
  const dead = await waitForLines('dead-letter-probe', (l) => l.length >= 1);
  const attempts = await lines('failing-probe');
  assert.equal(attempts.length, 3, '1 attempt + retry: 2');
  assert.ok(attempts.every((x) => x.attributes.id === attempts[0].attributes.id));
  const gaps = attempts.slice(1).map((x, i) => Date.parse(x.receivedAt) - Date.parse(attempts[i].receivedAt));
  // Knative's linear backoff is backoffDelay × the retry's index from 0 (pkg/kncloudevents/retries.go
  // with go-retryablehttp's attempt number): the first retry at once, the second after 0.2 s.
  assert.ok(gaps[0]! < 180 && gaps[1]! >= 180, `linear backoff 0 s, 0.2 s: ${gaps}`);
  const d = dead[0].attributes;
  assert.equal(d.id, attempts[0].attributes.id);
  assert.equal(d.name, 'fail-import');
  assert.equal(d.knativeerrorcode, '503');
  assert.equal(d.knativeerrordest, 'http://failing-probe.events-test.svc.cluster.local');
  assert.equal(Buffer.from(d.knativeerrordata, 'base64').toString(), `probe answers 503 for ${d.id}`);
  // The probe subscribed to imports saw it too: deliveries are per trigger.
  assert.ok((await lines('probe')).some((x) => x.attributes.name === 'fail-import'));
});

async function podStatus(name: string): Promise<any> {
  return JSON.parse(await cluster.kubectl(['get', 'pod', name, '-n', 'events-test', '-o', 'json'])).status;
}

async function waitForPod(name: string, pred: (status: any) => boolean, timeoutMs = 90_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await podStatus(name).catch(() => undefined);
    if (status && pred(status)) return status;
    if (Date.now() > deadline) throw new Error(`pod ${name} never got there: ${JSON.stringify(status)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

test('the node agent restarts a crashing container; kubectl logs --previous shows the instance before', async () => {
  await cluster.kubectl(
    ['apply', '-f', '-'],
    `apiVersion: v1
kind: Pod
metadata: {name: crasher, namespace: events-test}
spec:
  restartPolicy: Always
  containers:
    - name: main
      image: ghcr.io/vm-import/vm-import:0.1.0
      command: [node, -e, "console.log('instance of ' + process.env.HOSTNAME); setTimeout(() => process.exit(3), 200)"]
`,
  );
  const status = await waitForPod('crasher', (s) => s.containerStatuses?.[0]?.restartCount >= 1);
  assert.equal(status.containerStatuses[0].lastState.terminated.exitCode, 3);
  const previous = await cluster.kubectl(['logs', '--previous', 'crasher', '-n', 'events-test']);
  assert.equal(previous.trim(), 'instance of crasher');
});

test('an image the node cannot have fails the pod as a pull does', async () => {
  await cluster.kubectl(
    ['apply', '-f', '-'],
    `apiVersion: v1
kind: Pod
metadata: {name: unknown-image, namespace: events-test}
spec:
  containers: [{name: main, image: docker.io/library/busybox:1.36, command: [sh, -c, "true"]}]
`,
  );
  const status = await waitForPod('unknown-image', (s) => !!s.containerStatuses?.[0]?.state?.waiting);
  assert.equal(status.phase, 'Pending');
  assert.equal(status.containerStatuses[0].state.waiting.reason, 'ErrImagePull');
  assert.match(
    status.containerStatuses[0].state.waiting.message,
    /Failed to pull image "docker.io\/library\/busybox:1.36"/,
  );
});
