// Starts one container instance in its sandbox and stops it as a kubelet does: SIGTERM to the
// process group, SIGKILL after the grace period. Its stdout and stderr go to the container's log
// (container-logs.ts).
import { spawn } from 'node:child_process';
import { chmod, chown, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ContainerPlan } from './container-spec.ts';
import type { ContainerLogWriter } from './container-logs.ts';
import { sandboxArgv, type PodRuntimeFiles } from './sandbox.ts';

export interface ExitInfo {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  finishedAt: Date;
}

export interface ContainerProcess {
  pid: number;
  startedAt: Date;
  exited: Promise<ExitInfo>;
  stop(graceMs?: number): Promise<ExitInfo>;
}

/**
 * fsGroup as the kubelet applies it (pkg/volume/volume_linux.go SetVolumeOwnership): the group of
 * every file becomes fsGroup, group read (and write unless read-only) is added, directories get
 * setgid so new files inherit the group.
 */
export async function applyFsGroup(path: string, fsGroup: number, readOnly: boolean): Promise<void> {
  const st = await stat(path);
  await chown(path, st.uid, fsGroup);
  const groupBits = st.isDirectory() ? (readOnly ? 0o2050 : 0o2070) : readOnly ? 0o040 : 0o060;
  await chmod(path, (st.mode & 0o7777) | groupBits);
  if (st.isDirectory())
    for (const entry of await readdir(path)) await applyFsGroup(join(path, entry), fsGroup, readOnly);
}

/** Writes what the volumes hold before the container starts (the kubelet's volume setup). */
export async function prepareVolumes(plan: ContainerPlan): Promise<void> {
  for (const d of plan.directories) {
    await mkdir(d.path, { recursive: true });
    await chmod(d.path, d.mode);
  }
  for (const f of plan.files) {
    await mkdir(dirname(f.path), { recursive: true });
    await writeFile(f.path, f.content, { mode: f.mode });
    await chmod(f.path, f.mode);
  }
  if (plan.fsGroup === undefined) return;
  for (const m of plan.mounts) if (m.ownedByFsGroup) await applyFsGroup(m.source, plan.fsGroup, m.readOnly);
}

export function startContainer(
  plan: ContainerPlan,
  files: PodRuntimeFiles,
  log: ContainerLogWriter,
): ContainerProcess {
  const child = spawn('bwrap', sandboxArgv(plan, files), {
    env: plan.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: SIGTERM reaches the container's processes, not the node agent.
    detached: true,
  });
  log.attach('stdout', child.stdout);
  log.attach('stderr', child.stderr);
  const startedAt = new Date();
  const exited = new Promise<ExitInfo>((resolve) => {
    let done = false;
    const finish = (exitCode: number | null, signal: NodeJS.Signals | null) => {
      if (done) return;
      done = true;
      void log.close().finally(() => resolve({ exitCode, signal, finishedAt: new Date() }));
    };
    child.on('error', (err) => {
      log.runtimeLine(`failed to start the sandbox: ${err.message}`);
      finish(128, null);
    });
    child.on('close', (code, signal) => finish(code, signal));
  });
  const pid = child.pid ?? -1;
  const killGroup = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      /* already gone */
    }
  };
  return {
    pid,
    startedAt,
    exited,
    async stop(graceMs = 5000) {
      killGroup('SIGTERM');
      const timer = setTimeout(() => killGroup('SIGKILL'), graceMs);
      const info = await exited;
      clearTimeout(timer);
      killGroup('SIGKILL');
      return info;
    },
  };
}
