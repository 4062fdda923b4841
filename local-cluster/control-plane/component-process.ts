// One control-plane component as a child process: its output appended to its own log file,
// killed with the supervisor if the supervisor dies (setpriv --pdeathsig), stopped with SIGTERM
// and, after a grace period, SIGKILL.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';

export interface ComponentProcess {
  name: string;
  pid: number;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<string>;
  stop(graceMs?: number): Promise<void>;
}

export function startComponent(
  name: string,
  binary: string,
  args: string[],
  logFile: string,
): ComponentProcess {
  const out = openSync(logFile, 'a');
  const child = spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', binary, ...args], {
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  let done = false;
  const exited = new Promise<string>((resolve) => {
    child.on('exit', (code, signal) => {
      done = true;
      resolve(signal ?? String(code));
    });
    child.on('error', (err) => {
      done = true;
      resolve(`spawn failed: ${err.message}`);
    });
  });
  return {
    name,
    pid: child.pid ?? -1,
    exited,
    async stop(graceMs = 10_000) {
      if (done) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Polls `probe` until it holds; fails at once when a watched process exits, or at the timeout. */
export async function waitForComponent(
  what: string,
  probe: () => Promise<boolean>,
  watched: ComponentProcess[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: string | undefined;
  for (const p of watched) void p.exited.then((code) => (exited ??= `${p.name} exited (${code})`));
  for (;;) {
    if (exited) throw new Error(`${what}: ${exited}; see its log under .local/logs/`);
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${timeoutMs / 1000}s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
