// Harvester image stand-in, image-backed PVCs, the KubeVirt stand-in and Service DNS, on the
// local cluster's real control plane, with real qemu-img and real HTTP.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalCluster, type LocalCluster } from '../../local-cluster/cluster.ts';
import { NET_PROBE_IMAGE } from '../../local-cluster/runtime/node-agent/images.ts';

let cluster: LocalCluster;
let stateDir: string;
let server: http.Server;
let baseUrl: string;

before(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'runtime-platform-'));
  const raw = join(stateDir, 'src.raw');
  const content = Buffer.alloc(2 * 1024 * 1024);
  content.write('bootsector', 0);
  content.write('tail', content.length - 4);
  await writeFile(raw, content);
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, join(stateDir, 'src.qcow2')]);
  server = http.createServer((req, res) => {
    const file = join(stateDir, (req.url ?? '/').slice(1));
    stat(file)
      .then((s) => {
        res.writeHead(200, { 'content-length': s.size });
        createReadStream(file).pipe(res);
      })
      .catch(() => res.writeHead(404).end('not found'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  cluster = await startLocalCluster({ stateDir, sources: false, applyConfig: false, imageRetryDelayMs: 300 });
});

after(async () => {
  await cluster?.stop();
  server?.close();
  if (!process.env.KEEP_TEST_STATE) await rm(stateDir, { recursive: true, force: true });
});

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
const get = async (args: string[]) => JSON.parse(await cluster.kubectl([...args, '-o', 'json']));
const cond = (o: any, type: string) => (o.status?.conditions ?? []).find((c: any) => c.type === type);

test('a qcow2 VirtualMachineImage is imported as raw; an image PVC binds with its content; the VM runs', async () => {
  await cluster.kubectl(
    ['apply', '-f', '-'],
    `apiVersion: harvesterhci.io/v1beta1
kind: VirtualMachineImage
metadata: {name: img1, namespace: default}
spec: {displayName: img1, sourceType: download, url: "${baseUrl}/src.qcow2"}
`,
  );
  const img = await waitFor('image imported', async () => {
    const o = await get(['get', 'virtualmachineimage', 'img1', '-n', 'default']);
    return cond(o, 'Imported')?.status === 'True' ? o : undefined;
  });
  assert.equal(cond(img, 'Initialized').status, 'True');
  assert.equal(img.status.progress, 100);
  assert.equal(img.status.virtualSize, 2 * 1024 * 1024);
  assert.equal(img.status.size, (await stat(join(stateDir, 'src.qcow2'))).size);
  assert.equal(img.status.storageClassName, 'longhorn-img1');
  const stored = await readFile(join(stateDir, 'harvester', 'images', 'default', 'img1.raw'));
  assert.ok(stored.equals(await readFile(join(stateDir, 'src.raw'))));

  await cluster.kubectl(
    ['apply', '-f', '-'],
    `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: vm1-disk-0, namespace: default, annotations: {harvesterhci.io/imageId: default/img1}}
spec: {accessModes: [ReadWriteMany], volumeMode: Block, storageClassName: longhorn-img1, resources: {requests: {storage: 1Gi}}}
---
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata: {name: vm1, namespace: default}
spec:
  runStrategy: RerunOnFailure
  template:
    spec:
      domain: {devices: {disks: [{name: disk-0, disk: {bus: virtio}}], interfaces: [{name: nic-0, bridge: {}}]}, resources: {requests: {memory: 256Mi}}}
      networks: [{name: nic-0, multus: {networkName: default/vlan1}}]
      volumes: [{name: disk-0, persistentVolumeClaim: {claimName: vm1-disk-0}}]
`,
  );
  const vm = await waitFor('vm running', async () => {
    const o = await get(['get', 'virtualmachine', 'vm1', '-n', 'default']);
    return o.status?.printableStatus === 'Running' ? o : undefined;
  });
  assert.equal(vm.status.ready, true);
  assert.equal(vm.status.created, true);
  const vmi = await get(['get', 'virtualmachineinstance', 'vm1', '-n', 'default']);
  assert.equal(vmi.status.phase, 'Running');
  // The Block volume is the claim's size: the image's bytes, then zeros (as a Longhorn volume
  // with a backing image reads).
  const disk = join(stateDir, 'volumes', 'default', 'vm1-disk-0', 'disk.img');
  assert.equal((await stat(disk)).size, 1024 ** 3);
  const fh = await open(disk, 'r');
  const head = Buffer.alloc(stored.length + 4096);
  await fh.read(head, 0, head.length, 0);
  await fh.close();
  assert.ok(head.subarray(0, stored.length).equals(stored));
  assert.ok(head.subarray(stored.length).every((b) => b === 0));
});

test('a VM whose network does not exist says why it is not running', async () => {
  await cluster.kubectl(
    ['apply', '-f', '-'],
    `apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata: {name: vm2, namespace: default}
spec:
  running: true
  template:
    spec:
      domain: {devices: {}}
      networks: [{name: nic-0, multus: {networkName: default/vlan9}}]
`,
  );
  const vm = await waitFor('vm status', async () => {
    const o = await get(['get', 'virtualmachine', 'vm2', '-n', 'default']);
    return o.status?.printableStatus ? o : undefined;
  });
  assert.notEqual(vm.status.printableStatus, 'Running');
  assert.equal(vm.status.ready, false);
  assert.match(cond(vm, 'Ready').message, /vlan9/);
});

test('a failing download retries, then reports RetryLimitExceeded and Imported=False', async () => {
  await cluster.kubectl(
    ['apply', '-f', '-'],
    `apiVersion: harvesterhci.io/v1beta1
kind: VirtualMachineImage
metadata: {name: missing, namespace: default}
spec: {displayName: missing, sourceType: download, url: "${baseUrl}/nope.qcow2", retry: 1}
`,
  );
  const img = await waitFor('retry limit', async () => {
    const o = await get(['get', 'virtualmachineimage', 'missing', '-n', 'default']);
    return cond(o, 'RetryLimitExceeded')?.status === 'True' ? o : undefined;
  });
  assert.equal(img.status.failed, 2);
  assert.equal(cond(img, 'Imported').status, 'False');
  assert.match(cond(img, 'Imported').message, /retry attempted 1\/1 failed due to error: .*HTTP 404/);
});

test('pod network: two pods listen on 8080, each at its own pod IP; a Job reaches them through the Service by <svc>.<ns>.svc.cluster.local', async () => {
  // Outside "default", which PodSecurity holds to `restricted`: these pods test the node agent.
  await cluster.kubectl(['create', 'namespace', 'runtime-dns']);
  await cluster.kubectl(
    ['apply', '-f', '-'],
    `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: runtime-dns}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: ghcr.io/vm-import/vm-import:0.1.0
          command: [node, -e, "require('node:http').createServer((q, r) => r.end('hello from ' + q.socket.localAddress.replace(/^::ffff:/, ''))).listen(8080)"]
          ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: runtime-dns}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
`,
  );
  await waitFor('deployment ready', async () => {
    const o = await get(['get', 'deployment', 'web', '-n', 'runtime-dns']);
    return o.status?.readyReplicas === 2 ? o : undefined;
  });
  const pods = await get(['get', 'pods', '-n', 'runtime-dns', '-l', 'app=web']);
  const podIps = (pods.items as { status: { podIP: string } }[]).map((p) => p.status.podIP).sort();
  const podCidr = /^10\.\d+\.(\d+)\.\d+$/;
  assert.equal(new Set(podIps).size, 2, `two pods, two addresses: ${podIps.join(', ')}`);
  for (const ip of podIps) assert.match(ip, podCidr);
  // Ready pods reach the Service through the EndpointSlice controller, then kube-proxy.
  await waitFor('both pods in the Service endpoints', async () => {
    const slices = await get([
      'get',
      'endpointslices',
      '-n',
      'runtime-dns',
      '-l',
      'kubernetes.io/service-name=web',
    ]);
    const ready = (slices.items as { endpoints?: { conditions?: { ready?: boolean } }[] }[]).flatMap((sl) =>
      (sl.endpoints ?? []).filter((e) => e.conditions?.ready),
    );
    return ready.length === 2 ? true : undefined;
  });
  await cluster.kubectl(
    ['apply', '-f', '-'],
    `apiVersion: batch/v1
kind: Job
metadata: {name: dns-client, namespace: runtime-dns}
spec:
  backoffLimit: 4
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: c
          image: ghcr.io/vm-import/vm-import:0.1.0
          # retries while kube-proxy has not yet programmed the new Service (it syncs after the EndpointSlice)
          command: [node, -e, "(async () => { for (let i = 0; ; i++) { try { console.log(await (await fetch('http://web.runtime-dns.svc.cluster.local/')).text()); return; } catch (e) { if (i > 40) throw e; await new Promise(r => setTimeout(r, 500)); } } })()"]
`,
  );
  const job = await waitFor('dns job complete', async () => {
    const o = await get(['get', 'job', 'dns-client', '-n', 'runtime-dns']);
    return cond(o, 'Complete')?.status === 'True' ? o : undefined;
  });
  assert.equal(job.status.succeeded, 1);
  const text = await cluster.kubectl(['logs', '-n', 'runtime-dns', 'job/dns-client']);
  const answeredBy = /^hello from (\S+)$/.exec(text.trim())?.[1];
  assert.ok(answeredBy && podIps.includes(answeredBy), `${text.trim()} is one of ${podIps.join(', ')}`);
});

test('NetworkPolicy: a pod the policy selects as a peer gets through, any other pod is refused; the node always gets through', async () => {
  await cluster.kubectl(
    ['apply', '-f', '-'],
    `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-granted, namespace: runtime-dns}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
    - from: [{podSelector: {matchLabels: {access: granted}}}]
      ports: [{protocol: TCP, port: http}]
`,
  );
  const client = (name: string, labels: string) => `apiVersion: batch/v1
kind: Job
metadata: {name: ${name}, namespace: runtime-dns}
spec:
  backoffLimit: 0
  template:
    metadata: {labels: {${labels}}}
    spec:
      restartPolicy: Never
      containers:
        - name: c
          image: ghcr.io/vm-import/vm-import:0.1.0
          command: [node, -e, "fetch('http://web.runtime-dns.svc.cluster.local/', {signal: AbortSignal.timeout(4000)}).then(r => r.text()).then(t => console.log('reached: ' + t), e => console.log('refused: ' + (e.cause?.code ?? e.name)))"]
`;
  await cluster.kubectl(['apply', '-f', '-'], client('granted-client', 'access: granted'));
  await cluster.kubectl(['apply', '-f', '-'], client('other-client', 'access: none'));
  const outcome = async (job: string) => {
    await waitFor(`${job} complete`, async () => {
      const o = await get(['get', 'job', job, '-n', 'runtime-dns']);
      return cond(o, 'Complete')?.status === 'True' ? o : undefined;
    });
    return (await cluster.kubectl(['logs', '-n', 'runtime-dns', `job/${job}`])).trim();
  };
  assert.match(await outcome('granted-client'), /^reached: hello from 10\./);
  assert.match(await outcome('other-client'), /^refused: (TimeoutError|AbortError)/);
  // the node (the host's end of the pod network, where the supervisor and kubelet run)
  const pods = await get(['get', 'pods', '-n', 'runtime-dns', '-l', 'app=web']);
  const ip = (pods.items as { status: { podIP: string } }[])[0]!.status.podIP;
  const res = await fetch(`http://${ip}:8080/`, { signal: AbortSignal.timeout(4000) });
  assert.match(await res.text(), /^hello from /);
});

test('pod network: a Go program in a pod resolves Services through cluster DNS and reaches them', async () => {
  // kubectl: a static Go binary with Go's own resolver (/etc/resolv.conf → kube-dns → CoreDNS),
  // talking to the API server by its Service name, routed by kube-proxy to the API server.
  await cluster.kubectl(
    ['apply', '-f', '-'],
    `apiVersion: batch/v1
kind: Job
metadata: {name: go-dns-client, namespace: runtime-dns}
spec:
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: c
          image: ${NET_PROBE_IMAGE}
          args: [get, --raw, /version]
          # client-go's in-cluster configuration connects to this host: a name, not the IP
          env: [{name: KUBERNETES_SERVICE_HOST, value: kubernetes.default.svc.cluster.local}]
`,
  );
  const job = await waitFor('go dns job finished', async () => {
    const o = await get(['get', 'job', 'go-dns-client', '-n', 'runtime-dns']);
    return cond(o, 'Complete')?.status === 'True' || cond(o, 'Failed')?.status === 'True' ? o : undefined;
  });
  const text = await cluster.kubectl(['logs', '-n', 'runtime-dns', 'job/go-dns-client']);
  assert.equal(job.status.succeeded, 1, text);
  assert.match(JSON.parse(text).gitVersion as string, /^v1\.\d+/);
});
