// Starts one container instance in its sandbox and stops it as a kubelet does: SIGTERM to the
// container's command, SIGKILL to its whole PID namespace after the grace period. Its stdout and stderr go to the container's log
// (container-logs.ts).
import { spawn, type StdioOptions } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { chmod, chown, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { ContainerPlan } from './container-spec.ts';
import type { ContainerLogWriter } from './container-logs.ts';
import { CONTAINER_INIT_FD, SANDBOX_STATUS_FD, sandboxArgv, type PodRuntimeFiles } from './sandbox.ts';

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

export interface ContainerHost {
  /** The container init binary (local-cluster/components/container-init) on the host. */
  containerInit: string;
  /** The pod's network namespace (/run/netns/<name>); absent: the node's. */
  netnsPath?: string;
}

export function startContainer(
  plan: ContainerPlan,
  files: PodRuntimeFiles,
  log: ContainerLogWriter,
  { containerInit, netnsPath }: ContainerHost,
): ContainerProcess {
  // setpriv --pdeathsig: bwrap ends with the node agent, and the container with bwrap; nsenter
  // enters the pod's network namespace and execs bwrap in the same process.
  const netns = netnsPath ? ['nsenter', `--net=${netnsPath}`, '--'] : [];
  const init = openSync(containerInit, 'r');
  const stdio: StdioOptions = ['ignore', 'pipe', 'pipe', 'pipe'];
  stdio[SANDBOX_STATUS_FD] = 'pipe';
  stdio[CONTAINER_INIT_FD] = init;
  const child = (() => {
    try {
      return spawn('setpriv', ['--pdeathsig=SIGKILL', '--', ...netns, 'bwrap', ...sandboxArgv(plan, files)], {
        env: plan.env,
        stdio,
        // Its own process group, so that a final SIGKILL can take whatever is left of it.
        detached: true,
      });
    } finally {
      closeSync(init);
    }
  })();
  log.attach('stdout', child.stdout!);
  log.attach('stderr', child.stderr!);
  // bwrap reports the container's PID (in our namespace) and, at the end, its exit status.
  let containerPid: number | undefined;
  let exitStatus: number | undefined;
  const status = child.stdio[SANDBOX_STATUS_FD] as Readable;
  // A pipe of a sandbox that died abruptly may error (EPIPE, ECONNRESET): that is the container's
  // end, reported by 'close' below, never a reason to take the node agent down.
  for (const pipe of [child.stdout, child.stderr, status]) pipe?.on('error', () => undefined);
  createInterface({ input: status }).on('line', (line) => {
    try {
      const doc = JSON.parse(line) as { 'child-pid'?: number; 'exit-code'?: number };
      if (doc['child-pid'] !== undefined) containerPid = doc['child-pid'];
      if (doc['exit-code'] !== undefined) exitStatus = doc['exit-code'];
    } catch {
      /* bwrap may add other documents */
    }
  });
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
    child.on('close', (code, signal) => {
      // The container's own status: n, or 128+n when signal n ended it (shell encoding).
      const st = exitStatus ?? code ?? 128 + 9;
      finish(st, st > 128 ? signalName(st - 128) : signal);
    });
  });
  // bwrap reports its init's PID; the container's command is that init's child.
  const signalContainer = async (sig: NodeJS.Signals) => {
    if (containerPid === undefined) return;
    const children = await readFile(`/proc/${containerPid}/task/${containerPid}/children`, 'utf8').catch(
      () => '',
    );
    for (const pid of children.split(/\s+/).filter(Boolean).map(Number)) {
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  const killGroup = () => {
    try {
      process.kill(-(child.pid ?? 0), 'SIGKILL');
    } catch {
      /* already gone */
    }
  };
  return {
    pid: child.pid ?? -1,
    startedAt,
    exited,
    async stop(graceMs = 30_000) {
      await signalContainer('SIGTERM');
      // SIGKILL to the namespace's init ends every process in it.
      const timer = setTimeout(() => {
        try {
          if (containerPid !== undefined) process.kill(containerPid, 'SIGKILL');
        } catch {
          /* already gone */
        }
        killGroup();
      }, graceMs);
      const info = await exited;
      clearTimeout(timer);
      killGroup();
      return info;
    },
  };
}

function signalName(n: number): NodeJS.Signals | null {
  const entry = Object.entries(osConstants.signals).find(([, v]) => v === n);
  return entry ? (entry[0] as NodeJS.Signals) : null;
}
