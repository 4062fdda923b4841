// The container image cannot be built here (no container engine), so what it relies on is tested:
// the Containerfile's shape, and every command the manifests run, started from a directory that
// holds only what the image copies (package.json, events/, functions/ + node_modules).
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import { functionCommand } from '../../config/generators/functions.ts';
import { EXPORTER_COMMAND, EXPORTER_UID } from '../../functions/export/job-spec.ts';
import { diskServerManifests } from '../../functions/shared/disk-server/workload.ts';
import type { VirtualMachineImport } from '../../functions/shared/api/index.ts';

const ROOT = join(import.meta.dirname, '..', '..');
let imageDir: string;

before(async () => {
  imageDir = await mkdtemp(join(tmpdir(), 'vm-import-image-'));
  for (const p of ['package.json', 'events', 'functions'])
    await cp(join(ROOT, p), join(imageDir, p), { recursive: true });
  await symlink(join(ROOT, 'node_modules'), join(imageDir, 'node_modules'));
});
after(() => rm(imageDir, { recursive: true, force: true }));

const run = (command: string[], env: Record<string, string> = {}, timeout = 30_000) =>
  execa(command[0]!, command.slice(1), {
    cwd: imageDir,
    reject: false,
    timeout,
    env: { PATH: `${join(ROOT, 'node_modules', '.bin')}:${process.env.PATH}`, HOME: imageDir, ...env },
    extendEnv: false,
  });

test('the Containerfile: Node 22 slim base, qemu-utils, runtime deps only (tsx among them), numeric non-root user', async () => {
  const file = await readFile(join(ROOT, 'Containerfile'), 'utf8');
  assert.match(file, /^FROM docker\.io\/library\/node:22-bookworm-slim$/m);
  assert.match(file, /apt-get install -y --no-install-recommends qemu-utils/);
  assert.match(file, /npm ci --omit=dev/);
  assert.match(file, new RegExp(`^USER ${EXPORTER_UID}:${EXPORTER_UID}$`, 'm'));
  assert.doesNotMatch(file, /build-essential|gcc|make /);
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  assert.ok(pkg.dependencies.tsx, 'tsx is a runtime dependency: the image runs TypeScript through it');
});

test('every function starts from the image layout and answers its health probes', async () => {
  const port = 20000 + Math.floor(Math.random() * 20000);
  for (const fn of ['resync', 'export', 'vm'] as const) {
    const cmd = functionCommand(fn);
    const server = execa(cmd[0]!, cmd.slice(1), {
      cwd: imageDir,
      env: {
        PATH: `${join(ROOT, 'node_modules', '.bin')}:${process.env.PATH}`,
        PORT: String(port),
        HOME: imageDir,
      },
      extendEnv: false,
      reject: false,
    });
    try {
      let status = 0;
      for (let i = 0; i < 100 && status !== 200; i++) {
        status = await fetch(`http://127.0.0.1:${port}/health/readiness`)
          .then((r) => r.status)
          .catch(() => 0);
        if (status !== 200) await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(status, 200, `${fn} answers /health/readiness`);
      const live = await fetch(`http://127.0.0.1:${port}/health/liveness`);
      assert.equal(live.status, 200, `${fn} answers /health/liveness`);
    } finally {
      server.kill();
      await server;
    }
  }
});

test('the export Job program starts and fails cleanly without its environment', async () => {
  const r = await run(EXPORTER_COMMAND);
  assert.notEqual(r.exitCode, 0);
  const output = `${r.stdout}\n${r.stderr}`;
  assert.match(output, /IMPORT_NAMESPACE|IMPORT_NAME|environment|env/i);
  assert.doesNotMatch(output, /ERR_MODULE_NOT_FOUND|Cannot find module/);
});

test('the disk server program starts and fails cleanly without its environment', async () => {
  const imp = { metadata: { name: 'x', namespace: 'default', uid: 'u' } } as unknown as VirtualMachineImport;
  const command = diskServerManifests(imp, 't', 'image').deployment.spec.template.spec.containers[0]!.command;
  const r = await run(command);
  assert.notEqual(r.exitCode, 0);
  const output = `${r.stdout}\n${r.stderr}`;
  assert.match(output, /SCRATCH_DIR|DISK_SERVER_TOKEN|PORT/);
  assert.doesNotMatch(output, /ERR_MODULE_NOT_FOUND|Cannot find module/);
});
