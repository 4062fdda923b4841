// Benchmark of the embedded API server: create, update and watch throughput over HTTPS with
// client-node (1,000 objects, 20 concurrent watchers), plus the in-process store for reference.
// Prints numbers; asserts nothing. Run: node --import tsx bench/apiserver.ts
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'node:https';
import { CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions, Watch } from '@kubernetes/client-node';
import { startApiServer } from '../local-cluster/apiserver/index.ts';

const OBJECTS = 1000;
const WATCHERS = 20;
const CONCURRENCY = 16;

async function inBatches(count: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) await fn(next++);
    }),
  );
}

function rate(count: number, ms: number): string {
  return `${count} in ${ms.toFixed(0)} ms = ${((count / ms) * 1000).toFixed(0)}/s`;
}

const dataDir = await mkdtemp(join(tmpdir(), 'apiserver-bench-'));
const server = await startApiServer({ dataDir, historyLimit: 10_000 });
try {
  const kc = new KubeConfig();
  kc.loadFromFile(server.kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: 'bench' } } });

  const received = new Array<number>(WATCHERS).fill(0);
  const expected = OBJECTS * 2;
  let allDelivered: () => void = () => {};
  const delivered = new Promise<void>((resolve) => (allDelivered = resolve));
  const controllers = await Promise.all(
    Array.from({ length: WATCHERS }, (_, w) =>
      new Watch(kc).watch(
        '/api/v1/namespaces/bench/configmaps',
        { resourceVersion: server.store.currentResourceVersion() },
        () => {
          received[w] = (received[w] ?? 0) + 1;
          if (received.every((n) => n >= expected)) allDelivered();
        },
        () => {},
      ),
    ),
  );
  const t0 = performance.now();
  await inBatches(OBJECTS, (i) =>
    core.createNamespacedConfigMap({
      namespace: 'bench',
      body: { metadata: { name: `cm-${i}`, labels: { i: String(i % 10) } }, data: { value: String(i) } },
    }),
  );
  const t1 = performance.now();
  await inBatches(OBJECTS, (i) =>
    core.patchNamespacedConfigMap(
      { namespace: 'bench', name: `cm-${i}`, body: { data: { value: `updated-${i}` } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    ),
  );
  const t2 = performance.now();
  await delivered;
  const t3 = performance.now();
  const listStart = performance.now();
  const list = await core.listNamespacedConfigMap({ namespace: 'bench', labelSelector: 'i in (1,2,3)' });
  const listMs = performance.now() - listStart;

  console.log(
    `apiserver bench: ${OBJECTS} ConfigMaps over HTTPS (client-node, ${CONCURRENCY} in flight), ${WATCHERS} watchers`,
  );
  console.log(`  create (POST):            ${rate(OBJECTS, t1 - t0)}`);
  console.log(`  update (merge PATCH):     ${rate(OBJECTS, t2 - t1)}`);
  console.log(
    `  watch deliveries:         ${rate(expected * WATCHERS, t3 - t0)} (all ${WATCHERS} watchers had all ${expected} events ${(t3 - t2).toFixed(0)} ms after the last write)`,
  );
  console.log(`  list with set selector:   ${list.items.length} of ${OBJECTS} in ${listMs.toFixed(1)} ms`);

  // client-node v2 opens a new TLS connection per request; a keep-alive client shows what the
  // server itself sustains.
  const agent = new Agent({ keepAlive: true, ca: server.caCertPem, maxSockets: CONCURRENCY });
  const post = (body: object): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = request(
        `${server.url}/api/v1/namespaces/bench/configmaps`,
        {
          method: 'POST',
          agent,
          headers: { Authorization: `Bearer ${server.adminToken}`, 'Content-Type': 'application/json' },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
  const k0 = performance.now();
  await inBatches(OBJECTS, (i) =>
    post({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `ka-${i}` }, data: { value: String(i) } }),
  );
  const k1 = performance.now();
  agent.destroy();
  console.log(`  create, keep-alive HTTPS: ${rate(OBJECTS, k1 - k0)} (same ${WATCHERS} watchers attached)`);

  for (const c of controllers) c.abort();
  const ref = { apiVersion: 'v1', kind: 'ConfigMap' };
  let inProcessEvents = 0;
  const watches = Array.from({ length: WATCHERS }, () =>
    server.store.watch(
      ref,
      { namespace: 'bench', resourceVersion: server.store.currentResourceVersion() },
      () => inProcessEvents++,
    ),
  );
  const s0 = performance.now();
  for (let i = 0; i < OBJECTS; i++) {
    server.store.create(ref, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: `local-${i}`, namespace: 'bench' },
      data: { value: String(i) },
    } as never);
  }
  const s1 = performance.now();
  for (let i = 0; i < OBJECTS; i++)
    server.store.patch(ref, 'bench', `local-${i}`, 'merge', { data: { value: `u${i}` } });
  const s2 = performance.now();
  for (const w of watches) w.stop();
  console.log(`in-process ObjectStore (${WATCHERS} in-process watchers, ${inProcessEvents} deliveries):`);
  console.log(`  create:                   ${rate(OBJECTS, s1 - s0)}`);
  console.log(`  update (merge patch):     ${rate(OBJECTS, s2 - s1)}`);
} finally {
  await server.close();
  await rm(dataDir, { recursive: true, force: true });
}
