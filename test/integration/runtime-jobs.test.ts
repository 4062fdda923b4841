// Jobs, Pods and PVCs of the local cluster (kube-controller-manager's Job controller, our node
// agent and provisioner) with kubectl:
// a Job writes into its PVC (Secret env, ConfigMap volume, fsGroup) and completes; a
// failing Job honours backoffLimit (the Job controller's pod backoff is 10 s, 20 s, ...); activeDeadlineSeconds kills a running Job; deleting a Job
// kills its process; deleting the PVC removes its directory.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalCluster, type LocalCluster } from '../../local-cluster/cluster.ts';

let cluster: LocalCluster;
let stateDir: string;

before(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'runtime-jobs-'));
  cluster = await startLocalCluster({
    stateDir,
    sources: false,
    applyConfig: false,
  });
  // Outside "default", which PodSecurity holds to `restricted`: these pods test the node agent.
  await cluster.kubectl(['create', 'namespace', 'runtime-jobs']);
});

after(async () => {
  await cluster?.stop();
  await rm(stateDir, { recursive: true, force: true });
});

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function getJson(args: string[]): Promise<Record<string, any>> {
  return JSON.parse(await cluster.kubectl([...args, '-o', 'json']));
}

async function jobFinished(name: string): Promise<Record<string, any>> {
  return waitFor(`job ${name} to finish`, async () => {
    const job = await getJson(['get', 'job', name, '-n', 'runtime-jobs']);
    const done = (job.status?.conditions ?? []).find(
      (c: any) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
    );
    return done ? job : undefined;
  });
}

test('a Job writes into its PVC and completes like on Kubernetes', async () => {
  await cluster.kubectl(
    ['apply', '-f', '-'],
    `
apiVersion: v1
kind: Secret
metadata: {name: writer-secret, namespace: runtime-jobs}
stringData: {token: s3cr3t}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: writer-config, namespace: runtime-jobs}
data: {greeting: hello}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: scratch, namespace: runtime-jobs}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: writer, namespace: runtime-jobs}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      # The image runs as uid 65532; the volume is root's until fsGroup gives the pod its group.
      securityContext: {fsGroup: 65532}
      containers:
        - name: main
          image: ghcr.io/vm-import/vm-import:0.1.0
          command: [node, -e]
          args:
            - |
              const fs = require('node:fs');
              const greeting = fs.readFileSync(process.env.CONFIG_DIR + '/greeting', 'utf8');
              const mode = (fs.statSync(process.env.CONFIG_DIR + '/greeting').mode & 0o777).toString(8);
              fs.writeFileSync('/scratch/out.txt', greeting + ' ' + process.env.TOKEN + ' ' + process.env.POD_NAME + ' ' + mode);
          env:
            - {name: TOKEN, valueFrom: {secretKeyRef: {name: writer-secret, key: token}}}
            - {name: CONFIG_DIR, value: /etc/writer}
            - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
          volumeMounts:
            - {name: data, mountPath: /scratch}
            - {name: config, mountPath: /etc/writer}
      volumes:
        - {name: data, persistentVolumeClaim: {claimName: scratch}}
        - {name: config, configMap: {name: writer-config}}
`,
  );
  const job = await jobFinished('writer');
  assert.equal(job.status.succeeded, 1);
  assert.equal(job.status.failed, undefined);
  assert.equal(job.status.active, undefined);
  assert.ok(job.status.startTime);
  assert.ok(job.status.completionTime);
  const complete = job.status.conditions.find((c: any) => c.type === 'Complete');
  assert.equal(complete.status, 'True');

  const pods = await getJson(['get', 'pods', '-n', 'runtime-jobs', '-l', 'job-name=writer']);
  assert.equal(pods.items.length, 1);
  const pod = pods.items[0];
  assert.equal(pod.status.phase, 'Succeeded');
  assert.equal(pod.status.containerStatuses[0].state.terminated.exitCode, 0);
  assert.equal(pod.status.containerStatuses[0].state.terminated.reason, 'Completed');
  assert.equal(pod.metadata.ownerReferences[0].kind, 'Job');

  const pvc = await getJson(['get', 'pvc', 'scratch', '-n', 'runtime-jobs']);
  assert.equal(pvc.status.phase, 'Bound');
  assert.equal(pvc.spec.storageClassName, 'harvester-longhorn');
  const out = await readFile(join(stateDir, 'volumes', 'runtime-jobs', 'scratch', 'out.txt'), 'utf8');
  assert.equal(out, `hello s3cr3t ${pod.metadata.name} 644`, 'ConfigMap files get defaultMode 0644');
  assert.ok(existsSync(join(stateDir, 'logs', `pod-runtime-jobs-${pod.metadata.name}.log`)));

  await cluster.kubectl(['delete', 'job', 'writer', '-n', 'runtime-jobs']);
  await cluster.kubectl(['delete', 'pvc', 'scratch', '-n', 'runtime-jobs']);
  await waitFor('volume dir removal', async () =>
    existsSync(join(stateDir, 'volumes', 'runtime-jobs', 'scratch')) ? undefined : true,
  );
});

test('a failing Job honours backoffLimit', async () => {
  await cluster.kubectl(
    ['apply', '-f', '-'],
    `
apiVersion: batch/v1
kind: Job
metadata: {name: failer, namespace: runtime-jobs}
spec:
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never
      containers:
        - {name: main, image: 'ghcr.io/vm-import/vm-import:0.1.0', command: [sh, -c, 'echo trying; exit 3']}
`,
  );
  const job = await jobFinished('failer');
  const failed = job.status.conditions.find((c: any) => c.type === 'Failed');
  assert.equal(failed.status, 'True');
  assert.equal(failed.reason, 'BackoffLimitExceeded');
  assert.equal(job.status.failed, 3);
  assert.equal(job.status.succeeded, undefined);
  const pods = await getJson(['get', 'pods', '-n', 'runtime-jobs', '-l', 'job-name=failer']);
  assert.equal(pods.items.length, 3);
  for (const p of pods.items) {
    assert.equal(p.status.phase, 'Failed');
    assert.equal(p.status.containerStatuses[0].state.terminated.exitCode, 3);
  }
});

test('activeDeadlineSeconds fails the Job and kills its process; deleting a Job kills its pod', async () => {
  await cluster.kubectl(
    ['apply', '-f', '-'],
    `
apiVersion: batch/v1
kind: Job
metadata: {name: sleeper, namespace: runtime-jobs}
spec:
  activeDeadlineSeconds: 2
  template:
    spec:
      restartPolicy: Never
      containers:
        - {name: main, image: 'ghcr.io/vm-import/vm-import:0.1.0', command: [sh, -c, 'sleep 60']}
---
apiVersion: batch/v1
kind: Job
metadata: {name: deleted, namespace: runtime-jobs}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - {name: main, image: 'ghcr.io/vm-import/vm-import:0.1.0', command: [sh, -c, 'trap "echo stopping; exit 0" TERM; echo running; sleep 60 & wait']}
`,
  );
  const job = await jobFinished('sleeper');
  const failed = job.status.conditions.find((c: any) => c.type === 'Failed');
  assert.equal(failed.reason, 'DeadlineExceeded');
  await waitFor('sleeper pods gone', async () => {
    const pods = await getJson(['get', 'pods', '-n', 'runtime-jobs', '-l', 'job-name=sleeper']);
    return pods.items.length === 0 ? true : undefined;
  });

  const pod = await waitFor('deleted job running', async () => {
    const pods = await getJson(['get', 'pods', '-n', 'runtime-jobs', '-l', 'job-name=deleted']);
    return pods.items.find((p: any) => p.status?.phase === 'Running');
  });
  const log = join(stateDir, 'logs', `pod-runtime-jobs-${pod.metadata.name}.log`);
  await stat(log);
  await cluster.kubectl(['delete', 'job', 'deleted', '-n', 'runtime-jobs', '--wait=false']);
  // The container (PID 1 of its sandbox) got SIGTERM and ran its trap; the node agent ends the
  // pod's deletion only once it has stopped.
  await waitFor('pod of deleted job stopped and gone', async () => {
    const text = await readFile(log, 'utf8');
    const pods = await getJson(['get', 'pods', '-n', 'runtime-jobs', '-l', 'job-name=deleted']);
    return /stopping/.test(text) && pods.items.length === 0 ? true : undefined;
  });
});
