// npm run cluster -- up [--inventory FILE] [--state-dir DIR] [fault flags] | down [--state-dir DIR] | status
//
// `up` starts a detached supervisor process (this file, command `supervise`) that runs the whole
// local cluster (cluster.ts), and returns once it is ready: .local/kubeconfig and
// .local/endpoints.json are written, the pid is in .local/cluster.pid, the supervisor's own
// output in .local/logs/cluster.log. `down` stops the supervisor, which stops every process it
// started; logs and data stay. Fault injection for the broker: --fault-duplicate 0.2
// --fault-reorder-ms 300 --fault-delay-ms 50 --fault-fail-first 2 --fault-drop 0.1
// --fault-seed 7 (or the VMI_FAULT_* environment variables).
import { spawn } from 'node:child_process';
import { existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { faultsFromEnv, type FaultOptions } from './runtime/serving/faults.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    inventory: { type: 'string' },
    'state-dir': { type: 'string', default: '.local' },
    'fault-duplicate': { type: 'string' },
    'fault-reorder-ms': { type: 'string' },
    'fault-delay-ms': { type: 'string' },
    'fault-fail-first': { type: 'string' },
    'fault-drop': { type: 'string' },
    'fault-seed': { type: 'string' },
    timeout: { type: 'string', default: '300' },
  },
});

const stateDir = resolve(values['state-dir']);
const pidFile = join(stateDir, 'cluster.pid');
const readyFile = join(stateDir, 'cluster.ready.json');

function faultOptions(): FaultOptions {
  const env: NodeJS.ProcessEnv = { ...process.env };
  const map: Record<string, string> = {
    'fault-duplicate': 'VMI_FAULT_DUPLICATE',
    'fault-reorder-ms': 'VMI_FAULT_REORDER_MS',
    'fault-delay-ms': 'VMI_FAULT_DELAY_MS',
    'fault-fail-first': 'VMI_FAULT_FAIL_FIRST',
    'fault-drop': 'VMI_FAULT_DROP',
    'fault-seed': 'VMI_FAULT_SEED',
  };
  for (const [flag, name] of Object.entries(map)) {
    const v = values[flag as keyof typeof values];
    if (typeof v === 'string') env[name] = v;
  }
  return faultsFromEnv(env);
}

function runningPid(): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function up(): Promise<void> {
  const existing = runningPid();
  if (existing) {
    console.log(
      `local cluster already running (pid ${existing}); kubeconfig: ${join(stateDir, 'kubeconfig')}`,
    );
    return;
  }
  await mkdir(join(stateDir, 'logs'), { recursive: true });
  await rm(readyFile, { force: true });
  const started = Date.now();
  const log = openSync(join(stateDir, 'logs', 'cluster.log'), 'a');
  const args = ['--import', 'tsx', fileURLToPath(import.meta.url), 'supervise', '--state-dir', stateDir];
  if (values.inventory) args.push('--inventory', resolve(values.inventory));
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: ['ignore', log, log],
    env: { ...process.env, VMI_FAULTS_JSON: JSON.stringify(faultOptions()) },
    cwd: fileURLToPath(new URL('..', import.meta.url)),
  });
  let exited: number | null | undefined;
  child.on('exit', (code) => (exited = code));
  child.unref();
  const deadline = Date.now() + Number(values.timeout) * 1000;
  while (!existsSync(readyFile)) {
    if (exited !== undefined) {
      console.error(
        `the local cluster failed to start (exit ${exited}); see ${join(stateDir, 'logs', 'cluster.log')}:`,
      );
      console.error(
        readFileSync(join(stateDir, 'logs', 'cluster.log'), 'utf8')
          .split('\n')
          .slice(-25)
          .join('\n'),
      );
      process.exit(1);
    }
    if (Date.now() > deadline) {
      console.error(`the local cluster was not ready after ${values.timeout}s; stopping it`);
      process.kill(child.pid!, 'SIGTERM');
      process.exit(1);
    }
    await sleep(200);
  }
  const ready = JSON.parse(readFileSync(readyFile, 'utf8')) as { missing: string[] };
  console.log(`local cluster ready in ${((Date.now() - started) / 1000).toFixed(1)}s (pid ${child.pid})`);
  console.log(`  kubectl --kubeconfig ${join(stateDir, 'kubeconfig')} get pods -A`);
  console.log(`  endpoints: ${join(stateDir, 'endpoints.json')}`);
  if (ready.missing.length) console.log(`  simulators not available: ${ready.missing.join(', ')}`);
}

async function down(): Promise<void> {
  const pid = runningPid();
  if (!pid) {
    console.log('local cluster is not running');
    await rm(pidFile, { force: true });
    return;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      break;
    }
    await sleep(100);
  }
  if (runningPid() === pid) {
    console.error(`supervisor ${pid} did not stop in 30s; killing it`);
    process.kill(pid, 'SIGKILL');
  }
  await rm(pidFile, { force: true });
  await rm(readyFile, { force: true });
  console.log(`local cluster stopped; logs kept in ${join(stateDir, 'logs')}`);
}

async function supervise(): Promise<void> {
  const { startLocalCluster } = await import('./cluster.ts');
  const faults = JSON.parse(process.env.VMI_FAULTS_JSON ?? '{}') as FaultOptions;
  await writeFile(pidFile, `${process.pid}\n`);
  const cluster = await startLocalCluster({ stateDir, inventoryFile: values.inventory, faults });
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    console.log(`${new Date().toISOString()} stopping`);
    void cluster.stop().then(() => {
      console.log(`${new Date().toISOString()} stopped`);
      process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  await writeFile(readyFile, JSON.stringify({ pid: process.pid, missing: cluster.missingSimulators }));
  console.log(`${new Date().toISOString()} ready: ${cluster.apiServerUrl}`);
}

const command = positionals[0];
try {
  if (command === 'up') await up();
  else if (command === 'down') await down();
  else if (command === 'supervise') await supervise();
  else if (command === 'status') console.log(runningPid() ? `running (pid ${runningPid()})` : 'not running');
  else {
    console.error('usage: npm run cluster -- up [--inventory FILE] | down | status');
    process.exit(2);
  }
} catch (err) {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
}
