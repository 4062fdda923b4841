// The node agent's pure parts: image references and the image table, the container plan (argv
// precedence, env, security context, volumes) and the bubblewrap command line built from it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  containerArgv,
  expandVars,
  planContainer,
  PodSpecError,
  type PodSpec,
} from '../../../local-cluster/runtime/node-agent/container-spec.ts';
import {
  ImagePullError,
  knativeEventingImage,
  parseImageReference,
  resolveImage,
  type ImageRootfs,
} from '../../../local-cluster/runtime/node-agent/images.ts';
import { sandboxArgv } from '../../../local-cluster/runtime/node-agent/sandbox.ts';
import { restartBackoffMs } from '../../../local-cluster/runtime/node-agent/pods.ts';
import { probeUrl } from '../../../local-cluster/runtime/node-agent/probes.ts';

const image: ImageRootfs = {
  users: [
    { name: 'root', uid: 0, gid: 0, home: '/root' },
    { name: 'node', uid: 1000, gid: 1000, home: '/home/node' },
  ],
  binds: [{ host: '/usr', path: '/usr' }],
  symlinks: [{ target: 'usr/bin', path: '/bin' }],
  directories: [{ path: '/tmp', mode: 0o1777 }],
  user: { uid: 65532, gid: 65532 },
  workingDir: '/app',
  env: { PATH: '/usr/bin', NODE_ENV: 'production' },
  entrypoint: ['/entry'],
  cmd: ['serve'],
};

const identity = {
  name: 'p',
  namespace: 'ns',
  uid: 'u',
  podIp: '127.1.0.9',
  hostIp: '127.0.0.1',
  nodeName: 'node-a',
  serviceAccountName: 'default',
  labels: {},
  annotations: {},
};
const layout = { pvcDir: (c: string) => `/v/${c}`, podVolumeDir: (v: string) => `/p/${v}` };

test('image references: registry and tag defaults; images outside the table fail like a pull', () => {
  assert.deepEqual(parseImageReference('busybox'), {
    repository: 'docker.io/library/busybox',
    tag: 'latest',
  });
  assert.deepEqual(parseImageReference('ghcr.io/vm-import/vm-import:0.1.0'), {
    repository: 'ghcr.io/vm-import/vm-import',
    tag: '0.1.0',
  });
  assert.deepEqual(parseImageReference('localhost:5000/a/b@sha256:00'), {
    repository: 'localhost:5000/a/b',
    tag: 'latest',
  });
  const host = { projectRoot: process.cwd(), nodeBinary: '/node' };
  assert.equal(resolveImage('ghcr.io/vm-import/vm-import:0.1.0', host).workingDir, '/app');
  assert.throws(() => resolveImage('ghcr.io/vm-import/vm-import:9.9.9', host), ImagePullError);
  assert.throws(
    () => resolveImage('example.invalid/probe:1', host),
    /Failed to pull image "example.invalid\/probe:1"/,
  );
});

test('argv: command replaces the entrypoint and drops cmd; args alone replace cmd', () => {
  assert.deepEqual(containerArgv({ name: 'c' }, image), ['/entry', 'serve']);
  assert.deepEqual(containerArgv({ name: 'c', args: ['x'] }, image), ['/entry', 'x']);
  assert.deepEqual(containerArgv({ name: 'c', command: ['node'] }, image), ['node']);
  assert.deepEqual(containerArgv({ name: 'c', command: ['node'], args: ['a'] }, image), ['node', 'a']);
  assert.equal(expandVars('$(A)-$$(A)-$(B)', { A: 'x' }), 'x-$(A)-$(B)');
});

test('container plan: env layers, $(VAR) without path rewriting, security context, volumes', () => {
  const spec: PodSpec = {
    securityContext: { runAsUser: 1000, fsGroup: 2000, supplementalGroups: [3000] },
    containers: [
      {
        name: 'c',
        image: 'i',
        command: ['node', 'job.ts'],
        args: ['--dir', '$(DIR)'],
        env: [
          { name: 'DIR', value: '/scratch/work' },
          { name: 'PW', valueFrom: { secretKeyRef: { name: 's', key: 'password' } } },
          { name: 'NODE_ENV', value: 'test' },
          { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
        ],
        volumeMounts: [
          { name: 'data', mountPath: '/scratch' },
          { name: 'creds', mountPath: '/etc/creds' },
          { name: 'ro', mountPath: '/ro', readOnly: true },
          { name: 'tmp', mountPath: '/tmp' },
        ],
        securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false },
      },
    ],
    volumes: [
      { name: 'data', persistentVolumeClaim: { claimName: 'pvc1' } },
      { name: 'creds', secret: { secretName: 's', defaultMode: 0o400 } },
      { name: 'ro', persistentVolumeClaim: { claimName: 'pvc2', readOnly: true } },
      { name: 'tmp', emptyDir: {} },
    ],
  };
  const plan = planContainer(
    spec,
    identity,
    { secrets: { s: { password: Buffer.from('pw').toString('base64') } }, configMaps: {} },
    layout,
    image,
    { HOSTNAME: 'p', NODE_ENV: 'kubelet' },
  );
  assert.deepEqual(plan.argv, ['node', 'job.ts', '--dir', '/scratch/work'], 'no path rewriting');
  assert.equal(plan.env.PW, 'pw');
  assert.equal(plan.env.NODE_ENV, 'test', 'the container env wins over image and kubelet env');
  assert.equal(plan.env.PATH, '/usr/bin', 'the image env');
  assert.equal(plan.env.HOME, '/home/node', "the user's home from the image's passwd");
  assert.equal(plan.env.NODE, 'node-a');
  assert.equal(plan.uid, 1000);
  assert.equal(plan.gid, 1000, 'runAsUser without runAsGroup takes the group from the image passwd');
  assert.deepEqual(plan.groups, [2000, 3000]);
  assert.equal(plan.readOnlyRootFilesystem, true);
  assert.equal(plan.noNewPrivileges, true);
  assert.deepEqual(plan.capabilities, [], 'a non-root user keeps no capabilities');
  assert.equal(plan.workingDir, '/app');
  assert.deepEqual(plan.claims, ['pvc1', 'pvc2']);
  assert.deepEqual(plan.files, [{ path: '/p/creds/password', content: Buffer.from('pw'), mode: 0o400 }]);
  assert.deepEqual(
    plan.mounts.map((m) => [m.mountPath, m.source, m.readOnly, m.ownedByFsGroup]),
    [
      ['/scratch', '/v/pvc1', false, true],
      ['/etc/creds', '/p/creds', true, true],
      ['/ro', '/v/pvc2', true, false],
      ['/tmp', '/p/tmp', false, true],
    ],
  );
  assert.deepEqual(
    plan.directories.find((d) => d.path === '/p/tmp'),
    { path: '/p/tmp', mode: 0o777 },
    'emptyDir is world-writable',
  );
});

test('runAsNonRoot: refused for an image user or runAsUser 0, as the kubelet refuses it', () => {
  const spec = (sc: PodSpec['securityContext']): PodSpec => ({
    securityContext: sc,
    containers: [{ name: 'c', image: 'i' }],
  });
  const plan = (sc: PodSpec['securityContext'], img = image) =>
    planContainer(spec(sc), identity, { secrets: {}, configMaps: {} }, layout, img, {});
  assert.equal(plan({ runAsNonRoot: true }).uid, 65532);
  assert.throws(
    () => plan({ runAsNonRoot: true }, { ...image, user: { uid: 0, gid: 0 } }),
    (e: unknown) => e instanceof PodSpecError && /image will run as root/.test(e.message),
  );
  assert.throws(() => plan({ runAsNonRoot: true, runAsUser: 0 }), /breaks non-root policy/);
  const root = plan({ runAsUser: 0 });
  assert.ok(root.capabilities.includes('CHOWN'), 'root gets the runtime default capabilities');
  assert.ok(!root.capabilities.includes('SYS_ADMIN'));
});

test('sandbox command line: image layout, mounts over it parents first, read-only root, the container init last', () => {
  const plan = planContainer(
    {
      securityContext: { fsGroup: 2000 },
      containers: [
        {
          name: 'c',
          image: 'i',
          volumeMounts: [
            { name: 'inner', mountPath: '/data/inner/x' },
            { name: 'outer', mountPath: '/data' },
          ],
          securityContext: { readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
        },
      ],
      volumes: [
        { name: 'inner', emptyDir: {} },
        { name: 'outer', emptyDir: {} },
      ],
    },
    identity,
    { secrets: {}, configMaps: {} },
    layout,
    image,
    {},
  );
  const argv = sandboxArgv(plan, {
    etc: {
      passwd: '/e/passwd',
      group: '/e/group',
      hosts: '/e/hosts',
      hostname: '/e/hostname',
      'resolv.conf': '/e/resolv.conf',
    },
    hostname: 'p',
  });
  const joined = argv.join(' ');
  assert.ok(joined.startsWith('--die-with-parent --json-status-fd 3 --unshare-pid'));
  assert.ok(joined.includes('--tmpfs /'));
  assert.ok(joined.includes('--ro-bind /usr /usr'));
  assert.ok(joined.includes('--ro-bind /e/resolv.conf /etc/resolv.conf'));
  assert.ok(joined.indexOf('--bind /p/outer /data') < joined.indexOf('--bind /p/inner /data/inner/x'));
  assert.ok(joined.includes('--perms 0755 --dir /data/inner'), 'mount point parents are enterable');
  assert.ok(joined.indexOf('--remount-ro /') > joined.indexOf('--bind /p/inner'));
  const init = argv.indexOf('/proc/self/fd/4');
  assert.deepEqual(argv.slice(init), [
    '/proc/self/fd/4',
    '--uid=65532',
    '--gid=65532',
    '--groups=2000',
    '--keep-caps=',
    '--close-fd=4',
    '--',
    '/entry',
    'serve',
  ]);
});

test('restart back-off doubles from 10 s to at most 5 min', () => {
  assert.deepEqual([1, 2, 3, 6, 10].map(restartBackoffMs), [10_000, 20_000, 40_000, 300_000, 300_000]);
});

test('probe URLs as the kubelet builds them: a path without its leading slash, named ports, HTTPS, TCP', () => {
  const container = { name: 'c', ports: [{ name: 'probes', containerPort: 8080 }] };
  // Knative's ApiServerSource adapter Deployment has `path: health`.
  assert.equal(
    probeUrl({ httpGet: { path: 'health', port: 'probes' } }, container, '10.0.0.5'),
    'http://10.0.0.5:8080/health',
  );
  assert.equal(
    probeUrl({ httpGet: { port: 8443, scheme: 'HTTPS' } }, container, '10.0.0.5'),
    'https://10.0.0.5:8443/',
  );
  assert.equal(probeUrl({ httpGet: { port: 'missing' } }, container, '10.0.0.5'), undefined);
  assert.equal(probeUrl({ tcpSocket: { port: 'probes' } }, container, '10.0.0.5'), 'tcp://10.0.0.5:8080');
});

test('a Knative program runs from a ko-style distroless image: its binary, CA bundle, nonroot user, no shell', () => {
  const image = resolveImage(knativeEventingImage('broker/filter', 'v0.50.0'), {
    projectRoot: process.cwd(),
    nodeBinary: '/usr/bin/node',
    knativeEventing: { binDir: '/cache/knative/bin', version: 'v0.50.0' },
  });
  assert.deepEqual(image.entrypoint, ['/ko-app/filter']);
  assert.ok(image.binds.some((b) => b.host === '/cache/knative/bin/filter' && b.path === '/ko-app/filter'));
  assert.deepEqual(image.user, { uid: 65532, gid: 65532 });
  assert.ok(!image.binds.some((b) => b.path.startsWith('/usr')), 'nothing of the host: no shell, no libc');
  assert.deepEqual(
    image.directories.find((d) => d.path === '/home/nonroot'),
    { path: '/home/nonroot', mode: 0o700, owner: { uid: 65532, gid: 65532 } },
  );
  assert.throws(
    () =>
      resolveImage(knativeEventingImage('controller', 'v0.49.0'), {
        projectRoot: process.cwd(),
        nodeBinary: '/n',
        knativeEventing: { binDir: '/b', version: 'v0.50.0' },
      }),
    /not found/,
  );
});
