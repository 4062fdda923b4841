// The node agent's sandbox runs pods as their containers would run on a real node: the image's
// root filesystem (read-only when asked), volumes at their mountPath, the security context's user.
// The disk server and its pod spec come from the functions, exactly as they create them.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../local-cluster/cluster.ts';
import type { PodSpec } from '../../local-cluster/runtime/node-agent/container-spec.ts';
import { ImagePullError } from '../../local-cluster/runtime/node-agent/images.ts';
import { diskServerManifests, newToken } from '../../functions/shared/disk-server/workload.ts';
import { vmImportImage } from '../../functions/shared/settings.ts';
import type { VirtualMachineImport } from '../../functions/shared/api/index.ts';
import {
  readyOrExited,
  runSandboxedPod,
  stopSandboxNetwork,
  sandboxWorkdir,
  type SandboxedPod,
} from '../support/sandboxed-pod.ts';

let workdir: string;
const running: SandboxedPod[] = [];

before(async () => {
  workdir = await sandboxWorkdir();
});

after(async () => {
  await Promise.all(running.map((p) => p.process.stop(2000)));
  await stopSandboxNetwork();
  await rm(workdir, { recursive: true, force: true });
});

const vmImport = {
  apiVersion: 'migration.harvesterhci.io/v1beta1',
  kind: 'VirtualMachineImport',
  metadata: { name: 'sandboxed', namespace: 'default', uid: '11111111-2222-3333-4444-555555555555' },
  spec: {},
} as unknown as VirtualMachineImport;

test('the disk server starts under its own securityContext (read-only root, uid 1000) and serves the scratch disk byte-identical', async () => {
  const token = newToken();
  const { deployment } = diskServerManifests(vmImport, token, vmImportImage({}));
  const spec = deployment.spec.template.spec as unknown as PodSpec;
  const claim = (spec.volumes ?? []).find((v) => v.persistentVolumeClaim)!.persistentVolumeClaim!.claimName;
  const disk = randomBytes(3 * 1024 * 1024 + 512);
  const pod = await runSandboxedPod(workdir, 'disk-server', spec);
  running.push(pod);
  // What the export Job left on the scratch volume (it runs before the disk server).
  await writeFile(join(pod.claimDir(claim), 'disk-0.raw'), disk, { mode: 0o644 });
  const state = await readyOrExited(pod, `http://${pod.podIp}:8080/healthz`);
  assert.equal(state, 'ready', `the disk server did not become ready:\n${await pod.output()}`);
  assert.equal(pod.plan.uid, 1000);
  assert.equal(pod.plan.readOnlyRootFilesystem, true);
  const res = await fetch(`http://${pod.podIp}:8080/${token}/disk-0.raw`);
  assert.equal(res.status, 200);
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(disk), 'served bytes differ from the scratch file');
});

const probeSpec = (script: string, extra: Partial<PodSpec> = {}): PodSpec => ({
  securityContext: { runAsNonRoot: true, fsGroup: 2000 },
  containers: [
    {
      name: 'probe',
      image: vmImportImage({}),
      command: ['node', '-e', script],
      volumeMounts: [
        { name: 'work', mountPath: '/work' },
        { name: 'cfg', mountPath: '/etc/cfg' },
      ],
      securityContext: {
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
      },
    },
  ],
  volumes: [
    { name: 'work', emptyDir: {} },
    { name: 'cfg', secret: { secretName: 'cfg', defaultMode: 0o440 } },
  ],
  ...extra,
});

async function runToExit(name: string, spec: PodSpec, sources?: Parameters<typeof runSandboxedPod>[3]) {
  const pod = await runSandboxedPod(workdir, name, spec, sources);
  running.push(pod);
  const info = await pod.process.exited;
  return { info, output: await pod.output() };
}

test('a pod sees its image and volumes, not the host: no working tree, read-only root, its own user and groups', async () => {
  const script = `
    const fs = require('node:fs');
    const tryWrite = (p) => { try { fs.writeFileSync(p, 'x'); return 'written'; } catch (e) { return e.code; } };
    console.log(JSON.stringify({
      cwd: process.cwd(),
      uid: process.getuid(), gid: process.getgid(), groups: process.getgroups(),
      app: fs.readdirSync('/app').sort(),
      projectRootVisible: fs.existsSync(${JSON.stringify(PROJECT_ROOT)}),
      rootWrite: tryWrite('/escape'),
      tmpWrite: tryWrite('/tmp/x'),
      workWrite: tryWrite('/work/x'),
      secret: fs.readFileSync('/etc/cfg/password', 'utf8'),
      secretMode: (fs.statSync('/etc/cfg/password').mode & 0o777).toString(8),
      secretWrite: tryWrite('/etc/cfg/other'),
      hostname: require('node:os').hostname(),
      pid1: fs.readFileSync('/proc/1/cmdline', 'utf8').split('\\0')[0],
    }));`;
  const { info, output } = await runToExit('probe', probeSpec(script), {
    secrets: { cfg: { password: Buffer.from('s3cret').toString('base64') } },
    configMaps: {},
  });
  assert.equal(info.exitCode, 0, output);
  const seen = JSON.parse(output.trim().split('\n').at(-1)!);
  assert.equal(seen.cwd, '/app');
  assert.equal(seen.uid, 65532, 'the image USER');
  assert.equal(seen.gid, 65532);
  assert.ok(seen.groups.includes(2000), 'fsGroup is a supplementary group');
  assert.deepEqual(seen.app, ['dist'], 'the build only: no sources, no node_modules');
  assert.equal(seen.projectRootVisible, false, 'the host working tree is not visible');
  assert.equal(seen.rootWrite, 'EROFS');
  assert.equal(seen.tmpWrite, 'EROFS', 'no writable /tmp without a volume there');
  assert.equal(seen.workWrite, 'written', 'an emptyDir is writable');
  assert.equal(seen.secret, 's3cret', 'a 0440 Secret file is readable through fsGroup');
  assert.equal(seen.secretMode, '440');
  assert.equal(seen.secretWrite, 'EROFS', 'Secret volumes are read-only');
  assert.equal(seen.hostname, 'probe');
  assert.notEqual(seen.pid1, 'systemd', 'own PID namespace');
});

test('runAsNonRoot refuses an image or securityContext that runs as root; an unknown image fails like a pull', async () => {
  await assert.rejects(
    runSandboxedPod(
      workdir,
      'root',
      probeSpec('0', { securityContext: { runAsNonRoot: true, runAsUser: 0 } }),
    ),
    /runAsUser breaks non-root policy/,
  );
  const unknown = probeSpec('0');
  unknown.containers[0]!.image = 'docker.io/library/busybox:1.36';
  await assert.rejects(runSandboxedPod(workdir, 'unknown', unknown), (err: unknown) => {
    assert.ok(err instanceof ImagePullError);
    assert.match(err.message, /Failed to pull image "docker.io\/library\/busybox:1.36"/);
    return true;
  });
});

test('file permissions hold inside the sandbox: a root-only file on a read-only PVC is not readable', async () => {
  const script = `
    const fs = require('node:fs');
    const deadline = Date.now() + 20000;
    while (!fs.existsSync('/data/ready') && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    const read = (p) => { try { fs.readFileSync(p); return 'read'; } catch (e) { return e.code; } };
    console.log(JSON.stringify({ private: read('/data/private'), public: read('/data/public') }));`;
  const spec = probeSpec(script, {
    volumes: [
      { name: 'work', emptyDir: {} },
      { name: 'cfg', secret: { secretName: 'cfg' } },
      { name: 'data', persistentVolumeClaim: { claimName: 'data', readOnly: true } },
    ],
  });
  spec.containers[0]!.volumeMounts!.push({ name: 'data', mountPath: '/data', readOnly: true });
  const pod = await runSandboxedPod(workdir, 'perm', spec, { secrets: { cfg: {} }, configMaps: {} });
  running.push(pod);
  const dir = pod.claimDir('data');
  await writeFile(join(dir, 'private'), 'root only', { mode: 0o600 });
  await chmod(join(dir, 'private'), 0o600);
  await writeFile(join(dir, 'public'), 'anyone', { mode: 0o644 });
  await writeFile(join(dir, 'ready'), '');
  const info = await pod.process.exited;
  const output = await pod.output();
  assert.equal(info.exitCode, 0, output);
  assert.deepEqual(JSON.parse(output.trim().split('\n').at(-1)!), { private: 'EACCES', public: 'read' });
});
