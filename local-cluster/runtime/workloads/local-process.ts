// Starts a planned container process with its own process group and a log file, and stops it
// like a kubelet: SIGTERM to the whole group, SIGKILL after the grace period.
import { spawn } from 'node:child_process';
import { chmod, mkdir, open, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ProcessPlan } from './container-spec.ts';

export interface ExitInfo {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  finishedAt: Date;
}

export interface LocalProcess {
  pid: number;
  startedAt: Date;
  exited: Promise<ExitInfo>;
  stop(graceMs?: number): Promise<ExitInfo>;
}

export async function materialize(plan: ProcessPlan): Promise<void> {
  for (const d of plan.directories) await mkdir(d, { recursive: true });
  for (const f of plan.files) {
    await mkdir(dirname(f.path), { recursive: true });
    await writeFile(f.path, f.content, { mode: f.mode });
    await chmod(f.path, f.mode);
  }
}

export async function startLocalProcess(plan: ProcessPlan, logFile: string): Promise<LocalProcess> {
  await mkdir(dirname(logFile), { recursive: true });
  const log = await open(logFile, 'a');
  await log.write(`--- ${new Date().toISOString()} start: ${[plan.command, ...plan.args].join(' ')}\n`);
  const child = spawn(plan.command, plan.args, {
    cwd: plan.cwd,
    env: plan.env,
    stdio: ['ignore', log.fd, log.fd],
    detached: true,
  });
  const startedAt = new Date();
  const exited = new Promise<ExitInfo>((resolve) => {
    let done = false;
    const finish = (exitCode: number | null, signal: NodeJS.Signals | null) => {
      if (done) return;
      done = true;
      const info = { exitCode, signal, finishedAt: new Date() };
      void log
        .write(`--- ${info.finishedAt.toISOString()} exit: code=${exitCode} signal=${signal}\n`)
        .finally(() => void log.close());
      resolve(info);
    };
    child.on('error', (err) => {
      void log.write(`--- spawn error: ${err.message}\n`);
      finish(127, null);
    });
    child.on('exit', (code, signal) => finish(code, signal));
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
      killGroup('SIGKILL'); // leftovers of the group
      return info;
    },
  };
}
