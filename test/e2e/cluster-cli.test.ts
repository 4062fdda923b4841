// `npm run cluster -- up` / `down` as a user runs them: kubectl works against .local/kubeconfig,
// the endpoints file has the contract's keys, and `down` leaves no process behind (checked in /proc).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import https from 'node:https';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '../..');
/** The k8s.io/kubernetes release local-cluster/components/kubernetes/go.mod pins, e.g. "1.36.3". */
const KUBERNETES_RELEASE = /k8s\.io\/kubernetes v(\S+)/.exec(
  readFileSync(join(ROOT, 'local-cluster/components/kubernetes/go.mod'), 'utf8'),
)![1]!;

/** Pids of processes whose command line or environment mentions `marker`. */
async function processesMentioning(marker: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const read = (f: string) => readFile(join('/proc', entry, f), 'latin1').catch(() => '');
    const [cmdline, environ] = await Promise.all([read('cmdline'), read('environ')]);
    if (cmdline.includes(marker) || environ.includes(marker)) pids.push(Number(entry));
  }
  return pids;
}

test(
  'cluster up, kubectl against it, cluster down leaves no process, up again keeps every object',
  { timeout: 600_000 },
  async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'vm-import-cli-'));
    const cli = (...args: string[]) =>
      execa('node', ['--import', 'tsx', 'local-cluster/cli.ts', ...args, '--state-dir', stateDir], {
        cwd: ROOT,
      });
    try {
      const started = Date.now();
      await cli('up');
      console.log(`# cluster up → ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      const kubeconfig = join(stateDir, 'kubeconfig');
      const { stdout } = await execa(join(stateDir, 'bin', 'kubectl'), [
        '--kubeconfig',
        kubeconfig,
        'get',
        'storageclass,network-attachment-definitions',
        '-A',
      ]);
      assert.match(stdout, /harvester-longhorn/);
      assert.match(stdout, /vlan1/);
      assert.match(stdout, /vlan2/);
      const endpoints = JSON.parse(await readFile(join(stateDir, 'endpoints.json'), 'utf8'));
      assert.equal(endpoints.kubeconfig, kubeconfig);
      assert.deepEqual(Object.keys(endpoints.vmware).slice(0, 4), [
        'url',
        'username',
        'password',
        'datacenter',
      ]);
      assert.ok(endpoints.openstack.url.endsWith('/v3'));
      assert.ok(endpoints.ova.baseUrl);
      // each simulator also has an address the host reaches: its CA verifies it there
      for (const [name, hostUrl, ca] of [
        ['vmware', endpoints.vmware.hostUrl, endpoints.vmware.caCert],
        ['openstack', endpoints.openstack.hostUrl, endpoints.openstack.ca_cert],
        ['ova', endpoints.ova.hostUrl, endpoints.ova.caCert],
      ] as [string, string, string][]) {
        assert.ok(hostUrl, `${name} has a hostUrl`);
        const status = await new Promise<number>((resolve, reject) =>
          https
            .get(hostUrl, { ca }, (res) => (res.resume(), resolve(res.statusCode ?? 0)))
            .on('error', reject),
        );
        assert.ok(status > 0 && status < 500, `${name} answers at ${hostUrl} (${status})`);
      }
      assert.ok((await processesMentioning(stateDir)).length > 0, 'the cluster runs');

      // The real control plane: its release, its API groups, etcd behind it, the controller-manager
      // at work, server-side apply's field ownership.
      const kubectl = async (...args: string[]) =>
        (await execa(join(stateDir, 'bin', 'kubectl'), ['--kubeconfig', kubeconfig, ...args])).stdout;
      const version = JSON.parse(await kubectl('version', '-o', 'json')) as {
        serverVersion: { gitVersion: string };
        clientVersion: { gitVersion: string };
      };
      console.log(
        `# kube-apiserver ${version.serverVersion.gitVersion}, kubectl ${version.clientVersion.gitVersion}`,
      );
      assert.match(
        version.serverVersion.gitVersion,
        new RegExp(`^v${KUBERNETES_RELEASE.replace(/\./g, '\\.')}`),
      );
      const groups = await kubectl('api-resources', '-o', 'name');
      assert.match(groups, /flowschemas\.flowcontrol\.apiserver\.k8s\.io/);
      assert.match(groups, /leases\.coordination\.k8s\.io/);
      assert.match(await kubectl('get', '--raw', '/livez?verbose'), /\[\+\]etcd ok/);
      await execa(
        join(stateDir, 'bin', 'kubectl'),
        ['--kubeconfig', kubeconfig, 'apply', '--server-side', '--field-manager=cli-test', '-f', '-'],
        {
          input: `apiVersion: v1
kind: ConfigMap
metadata: {name: survives-restart, namespace: default}
data: {kept: "yes"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: rs-probe, namespace: default}
spec:
  replicas: 0
  selector: {matchLabels: {app: rs-probe}}
  template:
    metadata: {labels: {app: rs-probe}}
    spec: {containers: [{name: c, image: ghcr.io/vm-import/vm-import:0.1.0, command: ["true"]}]}
`,
        },
      );
      const cm = JSON.parse(
        await kubectl('get', 'configmap', 'survives-restart', '--show-managed-fields', '-o', 'json'),
      );
      assert.ok(
        cm.metadata.managedFields.some(
          (f: { manager: string; operation: string }) => f.manager === 'cli-test' && f.operation === 'Apply',
        ),
        'server-side apply records managedFields',
      );
      let replicaSets = '';
      for (let i = 0; i < 120 && !replicaSets; i++) {
        replicaSets = await kubectl('get', 'replicasets', '-l', 'app=rs-probe', '-o', 'name');
        if (!replicaSets) await new Promise((r) => setTimeout(r, 500));
      }
      assert.match(replicaSets, /replicaset\.apps\/rs-probe-/, 'kube-controller-manager made the ReplicaSet');
    } finally {
      await cli('down');
    }
    await new Promise((r) => setTimeout(r, 3000));
    assert.deepEqual(await processesMentioning(stateDir), [], 'no process left after down');

    // etcd keeps its data under the state directory: a second `up` finds every object again.
    try {
      await cli('up');
      const { stdout } = await execa(join(stateDir, 'bin', 'kubectl'), [
        '--kubeconfig',
        join(stateDir, 'kubeconfig'),
        'get',
        'configmap',
        'survives-restart',
        '-o',
        'jsonpath={.data.kept}',
      ]);
      assert.equal(stdout, 'yes');
    } finally {
      await cli('down');
    }
    await new Promise((r) => setTimeout(r, 3000));
    assert.deepEqual(await processesMentioning(stateDir), [], 'no process left after down');
    assert.ok(existsSync(join(stateDir, 'logs')), 'logs stay');
    await rm(stateDir, { recursive: true, force: true });
  },
);
