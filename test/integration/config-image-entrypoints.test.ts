// The container image cannot be built here (no container engine), so what it relies on is tested:
// the Containerfile's shape, and every workload we ship run by the node agent's sandbox from the
// image table's layout of that image (what the Containerfile copies, its USER and WORKDIR), with
// the pod spec exactly as the manifests and the functions write it: its securityContext,
// volumes and command — plain `node` on the build (dist/), as the image runs it.
import assert from 'node:assert/strict';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parse } from 'yaml';
import { DIST_DIR, ensureBuilt } from '../../build.ts';
import { EXPORTER_COMMAND, EXPORTER_UID, buildExportJob } from '../../functions/export/job-spec.ts';
import { programCommand } from '../../functions/shared/image-programs.ts';
import { diskServerManifests } from '../../functions/shared/disk-server/workload.ts';
import type { VirtualMachineImport } from '../../functions/shared/api/index.ts';
import { vmImportImage } from '../../functions/shared/settings.ts';
import type { PodSpec } from '../../local-cluster/runtime/node-agent/container-spec.ts';
import {
  readyOrExited,
  runSandboxedPod,
  stopSandboxNetwork,
  sandboxWorkdir,
  type SandboxedPod,
} from '../support/sandboxed-pod.ts';

const ROOT = join(import.meta.dirname, '..', '..');
let workdir: string;
const pods: SandboxedPod[] = [];

before(async () => {
  workdir = await sandboxWorkdir();
});
after(async () => {
  await Promise.all(pods.map((p) => p.process.stop(2000)));
  await stopSandboxNetwork();
  await rm(workdir, { recursive: true, force: true });
});

const vmImport = {
  metadata: { name: 'x', namespace: 'default', uid: '00000000-0000-0000-0000-000000000001' },
} as unknown as VirtualMachineImport;

/** Exit code and output of a pod that is expected to stop on its own. */
async function runToExit(name: string, spec: PodSpec): Promise<{ exitCode: number | null; output: string }> {
  const pod = await runSandboxedPod(workdir, name, spec);
  pods.push(pod);
  const info = await pod.process.exited;
  return { exitCode: info.exitCode, output: await pod.output() };
}

test('the Containerfile: Node 22 slim base, qemu-utils, the build only, numeric non-root user', async () => {
  const file = await readFile(join(ROOT, 'Containerfile'), 'utf8');
  const stages = file.split(/^FROM /m).slice(1);
  assert.equal(stages.length, 2, 'a build stage and the image');
  const image = stages[1]!;
  assert.match(image, /^docker\.io\/library\/node:22-bookworm-slim$/m);
  assert.match(image, /apt-get install -y --no-install-recommends qemu-utils/);
  assert.doesNotMatch(image, /npm (ci|install)|node_modules/, 'the build bundles the dependencies');
  assert.match(image, /^COPY --from=build \/src\/dist\/ dist\/$/m);
  assert.doesNotMatch(image, /^COPY (functions|events)/m, 'no TypeScript sources in the image');
  assert.match(image, new RegExp(`^USER ${EXPORTER_UID}:${EXPORTER_UID}$`, 'm'));
  const cmd = `CMD [${programCommand('functions')
    .map((a) => JSON.stringify(a))
    .join(', ')}]`;
  assert.ok(image.split('\n').includes(cmd), `the image's command is ${cmd}`);
  assert.doesNotMatch(file, /build-essential|gcc|make /);
  assert.match(stages[0]!, /^RUN node --import tsx build\.ts$/m);
  // Everything the build stage copies from the context is let through by both ignore files.
  const copied = [...file.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(' '));
  assert.ok(copied.includes('build.ts'));
  for (const ignoreFile of ['.containerignore', '.dockerignore']) {
    const allowed = (await readFile(join(ROOT, ignoreFile), 'utf8')).split('\n');
    for (const path of copied) assert.ok(allowed.includes(`!${path}`), `${ignoreFile} lets ${path} through`);
  }
});

test('no production path loads tsx: runtime dependencies, manifests, commands and the build', async () => {
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
    devDependencies: Record<string, string>;
  };
  assert.equal(pkg.dependencies.tsx, undefined, 'tsx is not a runtime dependency');
  assert.ok(pkg.devDependencies.tsx && pkg.devDependencies.esbuild);
  const manifests = await readdir(join(ROOT, 'config'), { recursive: true });
  for (const f of manifests.filter((m) => m.endsWith('.yaml')))
    assert.doesNotMatch(await readFile(join(ROOT, 'config', f), 'utf8'), /\btsx\b/, `config/${f}`);
  const commands = [
    EXPORTER_COMMAND,
    diskServerManifests(vmImport, 't', 'i').deployment.spec.template.spec.containers[0]!.command,
  ];
  for (const c of commands) {
    assert.deepEqual(c.slice(0, 1), ['node'], 'plain node');
    assert.match(c.at(-1)!, /^dist\/.*\.mjs$/);
    for (const flag of c.slice(1, -1))
      assert.doesNotMatch(
        flag,
        /^(--import|--require|-r|--loader|--experimental-loader)\b/,
        'no preloaded module',
      );
  }
  await ensureBuilt();
  for (const f of await readdir(join(ROOT, DIST_DIR), { recursive: true }))
    if (f.endsWith('.mjs'))
      assert.doesNotMatch(
        await readFile(join(ROOT, DIST_DIR, f), 'utf8'),
        /from\s*["']tsx|import\(["']tsx|require\(["']tsx/,
        `${DIST_DIR}/${f} loads tsx`,
      );
});

test('every function starts from its manifest and the image layout and answers its health probes', async () => {
  for (const fn of ['resync', 'export', 'vm'] as const) {
    const docs = (await readFile(join(ROOT, 'config', 'functions', `${fn}.yaml`), 'utf8'))
      .split(/^---$/m)
      .map((d) => parse(d) as { kind?: string; spec?: { template?: { spec?: PodSpec } } } | null);
    const ksvc = docs.find((d) => d?.kind === 'Service' && d.spec?.template?.spec?.containers);
    assert.ok(ksvc, `config/functions/${fn}.yaml has a Knative Service`);
    const spec = structuredClone(ksvc.spec!.template!.spec!);
    // What Knative Serving adds to the container; the settings ConfigMap is optional here.
    const container = spec.containers[0]!;
    container.env = [{ name: 'PORT', value: '8080' }, ...(container.env ?? [])];
    container.envFrom = (container.envFrom ?? []).map((e) =>
      e.configMapRef ? { configMapRef: { ...e.configMapRef, optional: true } } : e,
    );
    const pod = await runSandboxedPod(workdir, `fn-${fn}`, spec);
    pods.push(pod);
    const state = await readyOrExited(pod, `http://${pod.podIp}:8080/health/readiness`, 120_000);
    assert.equal(state, 'ready', `${fn} answers /health/readiness:\n${await pod.output()}`);
    // faas-js-runtime answers 503 while its event loop lags (overload-protection), as the kubelet
    // would see on a busy node: a few tries, as its failureThreshold allows.
    let live = 0;
    for (let i = 0; i < 20 && live !== 200; i++) {
      live = (await fetch(`http://${pod.podIp}:8080/health/liveness`)).status;
      if (live !== 200) await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(live, 200, `${fn} answers /health/liveness`);
    await pod.process.stop(5000);
  }
});

test('the export Job, as the export function creates it, starts under its securityContext and fails cleanly without an API server', async () => {
  const job = buildExportJob(vmImport, {
    image: vmImportImage({}),
    source: { kind: 'OvaSource', namespace: 'default', name: 'ova' },
    deadlineSeconds: 600,
    env: {},
  }) as { spec: { template: { spec: PodSpec } } };
  const r = await runToExit('exporter', job.spec.template.spec);
  assert.notEqual(r.exitCode, 0);
  assert.doesNotMatch(r.output, /ERR_MODULE_NOT_FOUND|Cannot find module|EROFS|EACCES/);
  // it got as far as reading its import from the API server, which is not there
  assert.match(r.output, /"msg":"exporter failed".*VirtualMachineImport/);
});

test('the disk server program starts and fails cleanly without its environment', async () => {
  const spec = structuredClone(
    diskServerManifests(vmImport, 't', vmImportImage({})).deployment.spec.template.spec,
  );
  const container = spec.containers[0]!;
  container.env = [];
  const r = await runToExit('disk-server', spec as unknown as PodSpec);
  assert.notEqual(r.exitCode, 0);
  assert.match(r.output, /SCRATCH_DIR|DISK_SERVER_TOKEN|PORT/);
  assert.doesNotMatch(r.output, /ERR_MODULE_NOT_FOUND|Cannot find module|EROFS|EACCES/);
});
