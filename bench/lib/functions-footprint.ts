// Cold start and idle memory of every function, run as its pod runs it: plain `node` on the build
// (dist/functions/serve.mjs <name>) against a real API server, one process at a time.
//   cold start: process spawn → the reply to its first CloudEvent (the event is sent as soon as
//               the port accepts; the function re-reads the object from the API server to answer);
//   idle RSS:   resident memory (VmRSS) 30 s after that first handled event.
import { execa, type ResultPromise } from 'execa';
import { readFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { CloudEvent, HTTP } from 'cloudevents';
import { ensureBuilt, PROJECT_ROOT } from '../../build.ts';
import { FUNCTION_NAMES, ROUTING, type FunctionName } from '../../events/routing.ts';
import { PING_EVENT_TYPE, RESYNC_PING_DATA } from '../../events/ping.ts';
import { API_VERSION } from '../../functions/shared/api/index.ts';
import { IMAGE_PROGRAMS } from '../../functions/shared/image-programs.ts';
import type { Obj } from '../../functions/shared/kube/client.ts';
import { settings } from '../../functions/shared/settings.ts';
import { percentile, type FunctionsMeasurement } from './report.ts';
import { startTestApi, type TestApi } from '../../local-cluster/control-plane/api-server-only.ts';
import { makeApiServerEvent } from '../../local-cluster/runtime/knative/apiserver-events.ts';

export interface FunctionFootprint {
  coldStartMs: number[];
  /** First-event reply status of each sample (2xx: handled). */
  statuses: number[];
  idleRssBytes: number;
}

/** Over all samples of all functions; the largest idle RSS. */
export function summarizeFootprints(by: Record<string, FunctionFootprint>): FunctionsMeasurement {
  const all = Object.values(by).flatMap((f) => f.coldStartMs);
  return {
    coldStartMs: { p50: percentile(all, 50)!, max: Math.max(...all) },
    idleRssBytes: { max: Math.max(...Object.values(by).map((f) => f.idleRssBytes)) },
  };
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

/** The objects the first events are about: an import in a terminal phase, a source that cannot be reached. */
async function eventObjects(api: TestApi): Promise<{ imp: Obj; source: Obj }> {
  await api.kube.create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'bench-credentials', namespace: 'default' },
    stringData: { username: 'u', password: 'p' },
  });
  await api.kube.create({
    apiVersion: API_VERSION,
    kind: 'VmwareSource',
    metadata: { name: 'bench-source', namespace: 'default' },
    // Nothing listens there: verify-source answers with clusterNotReady at once.
    spec: {
      endpoint: 'https://127.0.0.1:9/sdk',
      dc: 'dc',
      credentials: { name: 'bench-credentials', namespace: 'default' },
    },
  });
  const created = await api.kube.create({
    apiVersion: API_VERSION,
    kind: 'VirtualMachineImport',
    metadata: { name: 'bench-import', namespace: 'default' },
    spec: {
      virtualMachineName: 'vm',
      sourceCluster: { name: 'bench-source', kind: 'VmwareSource', apiVersion: API_VERSION },
    },
  });
  await api.kube.replaceStatus(
    { ...created, status: { importStatus: 'virtualMachineRunning' } },
    'virtualmachineimports',
  );
  return {
    imp: await api.kube.get<Obj>(API_VERSION, 'VirtualMachineImport', 'default', 'bench-import'),
    source: await api.kube.get<Obj>(API_VERSION, 'VmwareSource', 'default', 'bench-source'),
  };
}

/** The event of the function's first route (dead-letter, which has none, gets the import's). */
const API_SERVER_URL = 'https://127.0.0.1:6443';

function firstEvent(fn: FunctionName, objects: { imp: Obj; source: Obj }): CloudEvent<unknown> {
  const route = ROUTING[fn].routes[0] as { kind?: string } | undefined;
  if (fn === 'resync')
    return new CloudEvent({ type: PING_EVENT_TYPE, source: 'bench', data: RESYNC_PING_DATA });
  return makeApiServerEvent(
    API_SERVER_URL,
    'update',
    route?.kind === 'VmwareSource' ? objects.source : objects.imp,
  );
}

interface Started {
  child: ResultPromise;
  coldStartMs: number;
  status: number;
}

/**
 * The floor on this machine at this moment: a bare node HTTP server that answers at once, started
 * and asked the same way. On a shared machine the ratio to it is what compares across runs.
 */
const BARE_SERVER =
  "require('node:http').createServer((q, s) => q.resume().on('end', () => s.writeHead(204).end())).listen(process.env.PORT)";

/** Spawns the function (or, for 'bare-node', BARE_SERVER) and sends its first event as soon as the port accepts. */
async function startAndHandle(
  fn: FunctionName | 'bare-node',
  event: CloudEvent<unknown>,
  kubeconfig: string,
): Promise<Started> {
  // The free port is free only until someone else binds it (other clusters share this machine):
  // a function that lost it exits with EADDRINUSE and is started again on another.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnFreePort(fn, event, kubeconfig);
    } catch (e) {
      if (attempt === 3 || !String(e).includes('EADDRINUSE')) throw e;
    }
  }
}

async function startOnFreePort(
  fn: FunctionName | 'bare-node',
  event: CloudEvent<unknown>,
  kubeconfig: string,
): Promise<Started> {
  const port = await freePort();
  const message = HTTP.binary(event);
  const started = performance.now();
  const args =
    fn === 'bare-node'
      ? ['-e', BARE_SERVER]
      : [...IMAGE_PROGRAMS.functions.nodeFlags, join(PROJECT_ROOT, IMAGE_PROGRAMS.functions.built), fn];
  const child = execa(process.execPath, args, {
    cwd: PROJECT_ROOT,
    env: { ...settings.runtime, NODE_ENV: 'production', PORT: String(port), KUBECONFIG: kubeconfig },
    extendEnv: false,
    stdout: 'ignore',
    stderr: 'pipe',
    reject: false,
  });
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${fn} exited ${child.exitCode}: ${(await child).stderr}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`, {
        method: 'POST',
        headers: message.headers as Record<string, string>,
        body: message.body as string,
      });
      await res.arrayBuffer();
      return { child, coldStartMs: performance.now() - started, status: res.status };
    } catch (e) {
      if (!/ECONNREFUSED|fetch failed/.test(String((e as Error).cause ?? e))) throw e;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

async function stop(child: ResultPromise): Promise<void> {
  child.kill('SIGTERM');
  await child;
}

async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)![1]) * 1024;
}

/**
 * `samples` cold starts of each function, one process at a time, then every function's RSS 30 s
 * after its first event (those run side by side: resident memory is per process).
 */
export async function measureFunctions(
  samples: number,
  log: (msg: string) => void,
): Promise<Record<string, FunctionFootprint>> {
  await ensureBuilt();
  const api = await startTestApi();
  try {
    const objects = await eventObjects(api);
    const bare: number[] = [];
    for (let i = 0; i < samples; i++) {
      const s = await startAndHandle('bare-node', firstEvent('resync', objects), api.kubeconfigPath);
      await stop(s.child);
      bare.push(s.coldStartMs);
    }
    log(
      `  floor (a bare node HTTP server, started and asked the same way): p50 ${percentile(bare, 50)!.toFixed(0)} ms, max ${Math.max(...bare).toFixed(0)} ms`,
    );
    const result: Record<string, FunctionFootprint> = {};
    for (const fn of FUNCTION_NAMES) {
      const coldStartMs: number[] = [];
      const statuses: number[] = [];
      for (let i = 0; i < samples; i++) {
        const s = await startAndHandle(fn, firstEvent(fn, objects), api.kubeconfigPath);
        await stop(s.child);
        coldStartMs.push(s.coldStartMs);
        statuses.push(s.status);
      }
      result[fn] = { coldStartMs, statuses, idleRssBytes: 0 };
      log(
        `  ${fn}: cold start p50 ${percentile(coldStartMs, 50)!.toFixed(0)} ms, max ${Math.max(...coldStartMs).toFixed(0)} ms (replies ${[...new Set(statuses)].join(',')})`,
      );
    }
    const running = await Promise.all(
      FUNCTION_NAMES.map(async (fn) => ({
        fn,
        started: await startAndHandle(fn, firstEvent(fn, objects), api.kubeconfigPath),
      })),
    );
    await new Promise((r) => setTimeout(r, 30_000));
    for (const { fn, started } of running) {
      result[fn]!.idleRssBytes = await rssBytes(started.child.pid!);
      await stop(started.child);
    }
    log(
      `  idle RSS: ${running.map(({ fn }) => `${fn} ${(result[fn]!.idleRssBytes / 2 ** 20).toFixed(0)}`).join(', ')} MiB`,
    );
    return result;
  } finally {
    await api.close();
  }
}
