// One control-plane component as a child process: its output appended to its own log file,
// killed with the supervisor if the supervisor dies (setpriv --pdeathsig), stopped with SIGTERM
// and, after a grace period, SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';

export interface ComponentProcess {
  name: string;
  /** The current process (a new one after `restart`). */
  readonly pid: number;
  /** Resolves with the exit code (or signal name) when the current process ends. */
  readonly exited: Promise<string>;
  stop(graceMs?: number): Promise<void>;
  /** Stops the process (SIGTERM, or SIGKILL when `kill`) and starts it again with the same arguments. */
  restart(options?: { kill?: boolean }): Promise<void>;
}

interface Running {
  child: ChildProcess;
  exited: Promise<string>;
  done: boolean;
}

function spawnComponent(binary: string, args: string[], logFile: string): Running {
  const out = openSync(logFile, 'a');
  const child = spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', binary, ...args], {
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  const running: Running = { child, exited: Promise.resolve(''), done: false };
  running.exited = new Promise<string>((resolve) => {
    child.on('exit', (code, signal) => {
      running.done = true;
      resolve(signal ?? String(code));
    });
    child.on('error', (err) => {
      running.done = true;
      resolve(`spawn failed: ${err.message}`);
    });
  });
  return running;
}

async function stopRunning(running: Running, graceMs: number, signal: NodeJS.Signals): Promise<void> {
  if (running.done) return;
  running.child.kill(signal);
  const timer = setTimeout(() => running.child.kill('SIGKILL'), graceMs);
  await running.exited;
  clearTimeout(timer);
}

export function startComponent(
  name: string,
  binary: string,
  args: string[],
  logFile: string,
): ComponentProcess {
  let running = spawnComponent(binary, args, logFile);
  return {
    name,
    get pid() {
      return running.child.pid ?? -1;
    },
    get exited() {
      return running.exited;
    },
    stop: (graceMs = 10_000) => stopRunning(running, graceMs, 'SIGTERM'),
    async restart({ kill = false } = {}) {
      await stopRunning(running, 10_000, kill ? 'SIGKILL' : 'SIGTERM');
      running = spawnComponent(binary, args, logFile);
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
