// The local cluster's CDI stand-in (local-cluster/runtime/cdi/) and Harvester's `cdi` image
// backend in the image-controller stand-in, with kubectl against one cluster:
//  - a DataVolume with an HTTP source becomes a claim of its name (the class's StorageProfile:
//    Block, ReadWriteMany for Ceph RBD) and an importer pod labelled as CDI labels it; a qcow2 is
//    written raw into the Block device; the phases end in Succeeded with 100.0% and the pod goes;
//  - an importer that fails is restarted by the kubelet; the DataVolume reports restartCount and
//    Running=False without leaving its phase, as CDI does;
//  - a VirtualMachineImage with backend cdi gets a DataVolume named after it in its target class,
//    exactly status.virtualSize, and is Imported when the DataVolume succeeds; a URL that cannot be
//    sized fails the image's initialization up to spec.retry, then RetryLimitExceeded.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startLocalCluster, type LocalCluster } from '../../local-cluster/cluster.ts';
import { addressPlan } from '../../local-cluster/runtime/network/addresses.ts';

const run = promisify(execFile);
const NS = 'runtime-cdi';
const MiB = 1024 * 1024;

let cluster: LocalCluster;
let stateDir: string;
let server: Server;
let baseUrl: string;
let raw: Buffer;

before(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'runtime-cdi-'));
  cluster = await startLocalCluster({ stateDir, sources: false, applyConfig: false, imageRetryDelayMs: 500 });
  await cluster.kubectl(['create', 'namespace', NS]);
  // A 6 MiB disk: random bytes in the first 3 MiB, zeros after; served as qcow2 and as raw.
  raw = Buffer.concat([Buffer.alloc(3 * MiB, 0), Buffer.alloc(3 * MiB, 0)]);
  for (let i = 0; i < 3 * MiB; i += 4096) raw.writeUInt32LE((i * 2654435761) >>> 0, i);
  await writeFile(join(stateDir, 'disk.raw'), raw);
  await run('qemu-img', [
    'convert',
    '-f',
    'raw',
    '-O',
    'qcow2',
    join(stateDir, 'disk.raw'),
    join(stateDir, 'disk.qcow2'),
  ]);
  server = createServer((req, res) => {
    const file = req.url === '/disk.qcow2' ? join(stateDir, 'disk.qcow2') : undefined;
    if (!file) {
      res.statusCode = 404;
      res.end('not found');
      return;
    }
    void stat(file).then((s) => {
      res.setHeader('content-length', String(s.size));
      if (req.method === 'HEAD') return res.end();
      createReadStream(file).pipe(res);
    });
  });
  // Pods reach the host at the cluster's host address.
  const { block } = JSON.parse(await readFile(join(stateDir, 'network.json'), 'utf8')) as { block: number };
  const host = addressPlan({ block }).hostAddress;
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const addr = server.address() as { port: number };
  baseUrl = `http://${host}:${addr.port}`;
});

after(async () => {
  server?.close();
  await cluster?.stop();
  await rm(stateDir, { recursive: true, force: true });
});

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 180_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function getJson(args: string[]): Promise<Record<string, any>> {
  return JSON.parse(await cluster.kubectl([...args, '-o', 'json']));
}

async function apply(obj: unknown): Promise<void> {
  await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(obj));
}

const dataVolume = (name: string, url: string, storageClassName: string, size: string) => ({
  apiVersion: 'cdi.kubevirt.io/v1beta1',
  kind: 'DataVolume',
  metadata: { name, namespace: NS },
  spec: {
    source: { http: { url } },
    storage: { storageClassName, resources: { requests: { storage: size } } },
  },
});

test('a DataVolume with an HTTP qcow2 source: a Block claim in its class, an importer pod, raw bytes in the device, Succeeded', async () => {
  const phases = new Set<string>();
  await apply(dataVolume('dv-qcow2', `${baseUrl}/disk.qcow2`, 'rook-ceph-block', String(6 * MiB)));
  const pod = await waitFor('the importer pod', async () => {
    const dv = await getJson(['get', 'datavolume', 'dv-qcow2', '-n', NS]);
    if (dv.status?.phase) phases.add(dv.status.phase);
    const pods = await getJson(['get', 'pods', '-n', NS, '-l', 'app=containerized-data-importer']);
    return pods.items.find((p: any) => p.metadata.name === 'importer-dv-qcow2');
  });
  assert.equal(pod.metadata.labels['cdi.kubevirt.io'], 'importer');
  assert.equal(pod.spec.restartPolicy, 'OnFailure');
  assert.deepEqual(pod.spec.containers[0].volumeDevices, [
    { name: 'cdi-data-vol', devicePath: '/dev/cdi-block-volume' },
  ]);
  const dv = await waitFor('Succeeded', async () => {
    const d = await getJson(['get', 'datavolume', 'dv-qcow2', '-n', NS]);
    if (d.status?.phase) phases.add(d.status.phase);
    return d.status?.phase === 'Succeeded' ? d : undefined;
  });
  assert.equal(dv.status.progress, '100.0%');
  assert.equal(dv.status.restartCount, 0);
  const conds = Object.fromEntries(dv.status.conditions.map((c: any) => [c.type, c.status]));
  assert.deepEqual(conds, { Bound: 'True', Running: 'False', Ready: 'True' });
  assert.ok(phases.has('ImportScheduled') || phases.has('ImportInProgress'), [...phases].join());
  const claim = await getJson(['get', 'pvc', 'dv-qcow2', '-n', NS]);
  assert.equal(claim.spec.volumeMode, 'Block');
  assert.deepEqual(claim.spec.accessModes, ['ReadWriteMany']);
  assert.equal(claim.spec.resources.requests.storage, String(6 * MiB));
  assert.equal(claim.metadata.ownerReferences[0].kind, 'DataVolume');
  const written = await readFile(join(stateDir, 'volumes', NS, 'dv-qcow2', 'disk.img'));
  assert.equal(written.length, 6 * MiB);
  assert.ok(written.equals(raw), 'the device holds the raw image');
  await waitFor('the importer pod to go', async () => {
    const pods = await getJson(['get', 'pods', '-n', NS, '-l', 'app=containerized-data-importer']);
    return pods.items.some((p: any) => p.metadata.name === 'importer-dv-qcow2') ? undefined : true;
  });
});

test('a failing importer is restarted: restartCount and Running=False on the DataVolume, never Succeeded', async () => {
  await apply(dataVolume('dv-missing', `${baseUrl}/missing.img`, 'rook-ceph-block', String(2 * MiB)));
  const dv = await waitFor('a restart', async () => {
    const d = await getJson(['get', 'datavolume', 'dv-missing', '-n', NS]);
    return (d.status?.restartCount ?? 0) >= 1 ? d : undefined;
  });
  assert.notEqual(dv.status.phase, 'Succeeded');
  assert.ok(['ImportScheduled', 'ImportInProgress'].includes(dv.status.phase), dv.status.phase);
  const running = dv.status.conditions.find((c: any) => c.type === 'Running');
  assert.equal(running.status, 'False');
  assert.equal(running.reason, 'Error');
  const log = await cluster.kubectl(['logs', 'importer-dv-missing', '-n', NS, '--previous']);
  assert.match(log, /expected status code 200, got 404/);
});

const image = (name: string, url: string, retry: number) => ({
  apiVersion: 'harvesterhci.io/v1beta1',
  kind: 'VirtualMachineImage',
  metadata: { name, namespace: NS },
  spec: {
    displayName: name,
    sourceType: 'download',
    url,
    retry,
    backend: 'cdi',
    targetStorageClassName: 'longhorn-v2',
  },
});

test('an image with backend cdi: a DataVolume named after it in its target class at exactly virtualSize, Imported when it succeeds', async () => {
  await apply(image('img-cdi', `${baseUrl}/disk.qcow2`, 3));
  const img = await waitFor('Imported', async () => {
    const i = await getJson(['get', 'virtualmachineimage', 'img-cdi', '-n', NS]);
    const imported = i.status?.conditions?.find((c: any) => c.type === 'Imported');
    return imported?.status === 'True' ? i : undefined;
  });
  assert.equal(img.status.virtualSize, 6 * MiB);
  assert.equal(img.status.size, (await stat(join(stateDir, 'disk.qcow2'))).size);
  assert.equal(img.status.progress, 100);
  assert.equal(img.status.storageClassName, 'longhorn-v2');
  const dv = await getJson(['get', 'datavolume', 'img-cdi', '-n', NS]);
  assert.equal(dv.spec.storage.storageClassName, 'longhorn-v2');
  assert.equal(dv.spec.storage.resources.requests.storage, String(6 * MiB));
  assert.equal(dv.metadata.ownerReferences[0].kind, 'VirtualMachineImage');
  const claim = await getJson(['get', 'pvc', 'img-cdi', '-n', NS]);
  assert.equal(claim.status.phase, 'Bound');
  assert.equal(claim.spec.volumeMode, 'Block'); // Longhorn with migratable: ReadWriteMany Block
  const written = await readFile(join(stateDir, 'volumes', NS, 'img-cdi', 'disk.img'));
  assert.ok(written.equals(raw));
});

test('an image with backend cdi whose URL cannot be sized fails its initialization up to spec.retry', async () => {
  await apply(image('img-cdi-missing', `${baseUrl}/missing.img`, 1));
  const img = await waitFor('RetryLimitExceeded', async () => {
    const i = await getJson(['get', 'virtualmachineimage', 'img-cdi-missing', '-n', NS]);
    const c = i.status?.conditions?.find((c: any) => c.type === 'RetryLimitExceeded');
    return c?.status === 'True' ? i : undefined;
  });
  assert.equal(img.status.failed, 2);
  const initialized = img.status.conditions.find((c: any) => c.type === 'Initialized');
  assert.equal(initialized.status, 'False');
  assert.equal(
    initialized.message,
    'retry attempted 1/1 failed due to error: failed to fetch image virtual size: content length is less than 128 bytes',
  );
  const dvs = await getJson(['get', 'datavolumes', '-n', NS]);
  assert.ok(!dvs.items.some((d: any) => d.metadata.name === 'img-cdi-missing'));
});
