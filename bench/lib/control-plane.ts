// Control plane on the local cluster (local-cluster/cluster.ts), two measurements:
//  * transition latency: a VirtualMachineImport status write (client side, just before the write
//    request) → a function's handler receiving the resulting CloudEvent, through the real eventing
//    implementation (ApiServerSource → Broker → Trigger → faas-js-runtime function process). The
//    function is the test probe (it records the receipt time), so the function's own work is not
//    counted: this is what every phase hand-over costs before the next phase starts working.
//  * 1 vs 20 concurrent small imports (the inventory's OVA, 32 MiB disk) through the whole pipeline,
//    from `kubectl apply` to virtualMachineRunning.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLocalCluster, type LocalCluster } from '../../local-cluster/cluster.ts';
import { renderExample } from '../../local-cluster/examples.ts';
import { PROBE_RECORD_TAG } from '../../local-cluster/images/event-probe/index.ts';
import { EVENT_PROBE_IMAGE } from '../../local-cluster/runtime/node-agent/images.ts';
import {
  TERMINAL_IMPORT_STATUSES,
  type VirtualMachineImportStatus,
} from '../../functions/shared/api/index.ts';
import { importStatus } from '../../local-cluster/import-status.ts';
import { percentile, stepSeconds, stepSecondsLine, type ControlPlane } from './report.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const NS = 'bench-events';
const WRITES = 40;

function latencyManifests(): string {
  // The ApiServerSource watches with its service account's token (least privilege): it may only
  // get/list/watch VirtualMachineImports.
  return `apiVersion: v1
kind: Namespace
metadata: {name: ${NS}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: import-watcher, namespace: ${NS}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: bench-import-watcher}
rules:
  - apiGroups: [migration.harvesterhci.io]
    resources: [virtualmachineimports]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: bench-import-watcher}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: bench-import-watcher}
subjects:
  - {kind: ServiceAccount, name: import-watcher, namespace: ${NS}}
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: probe
  namespace: ${NS}
  labels: {functions.vm-import.harvesterhci.io/name: probe}
spec:
  template:
    spec:
      containers:
        - name: function
          image: ${EVENT_PROBE_IMAGE}
          ports: [{containerPort: 8080}]
---
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: bench, namespace: ${NS}}
---
apiVersion: sources.knative.dev/v1
kind: ApiServerSource
metadata: {name: imports, namespace: ${NS}}
spec:
  mode: Resource
  serviceAccountName: import-watcher
  resources:
    - {apiVersion: migration.harvesterhci.io/v1beta1, kind: VirtualMachineImport}
  sink:
    ref: {apiVersion: eventing.knative.dev/v1, kind: Broker, name: bench}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: updates, namespace: ${NS}}
spec:
  broker: bench
  filters:
    - exact: {type: dev.knative.apiserver.resource.update}
  subscriber:
    ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: probe}
`;
}

interface ProbeLine {
  receivedAt: string;
  data?: { status?: { progress?: number } };
}

/** The probe's records from its log file on the node (what /var/log/pods is on a real node). */
async function probeLines(file: string): Promise<ProbeLine[]> {
  if (!existsSync(file)) return [];
  return (await readFile(file, 'utf8'))
    .split('\n')
    .filter((l) => l.startsWith(`${PROBE_RECORD_TAG} `))
    .map((l) => JSON.parse(l.slice(PROBE_RECORD_TAG.length + 1)) as ProbeLine);
}

async function waitForProbe(file: string, progress: number, timeoutMs = 30_000): Promise<ProbeLine> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = (await probeLines(file)).find((l) => l.data?.status?.progress === progress);
    if (hit) return hit;
    if (Date.now() > deadline)
      throw new Error(`no event for status write ${progress} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function transitionLatencies(dir: string, notes: string[]): Promise<number[]> {
  const stateDir = join(dir, 'latency');
  await mkdir(stateDir, { recursive: true });
  // The node agent's plain log of the probe function (named after its function label).
  const probeOut = join(stateDir, 'logs', 'probe.log');
  const manifests = join(stateDir, 'bench-events.yaml');
  await writeFile(manifests, latencyManifests());
  let cluster: LocalCluster | undefined;
  try {
    cluster = await startLocalCluster({
      stateDir,
      sources: false,
      applyConfig: false,
      extraManifests: [
        join(REPO, 'config/crds/migration.harvesterhci.io_virtualmachineimports.yaml'),
        manifests,
      ],
    });
    const { object: created } = await cluster.kube.ensure({
      apiVersion: 'migration.harvesterhci.io/v1beta1',
      kind: 'VirtualMachineImport',
      metadata: { name: 'latency', namespace: NS },
      spec: {
        virtualMachineName: 'latency',
        sourceCluster: {
          name: 'none',
          namespace: NS,
          kind: 'VmwareSource',
          apiVersion: 'migration.harvesterhci.io/v1beta1',
        },
      },
    });
    let current = created;
    const latencies: number[] = [];
    // Write 0 warms up the path (the function process may start on the first event).
    for (let i = 0; i <= WRITES; i++) {
      const sentAt = Date.now();
      current = await cluster.kube.writeStatus({
        ...current,
        status: { importStatus: 'sourceReady', progress: i },
      });
      const line = await waitForProbe(probeOut, i);
      if (i > 0) latencies.push(Date.parse(line.receivedAt) - sentAt);
    }
    notes.push(
      `transition latency: ${WRITES} status writes, each from just before the write request to the ` +
        `function handler's receipt (ApiServerSource → Broker → Trigger → faas-js-runtime process); ms resolution`,
    );
    return latencies;
  } finally {
    await cluster?.stop();
    await rm(stateDir, { recursive: true, force: true });
  }
}

/**
 * Polls every import once a second until all are terminal. A failed poll (the API server busy
 * under 20 imports on 2 cores) is retried; only 10 failures in a row end the wait.
 */
async function waitForImports(
  cluster: LocalCluster,
  names: string[],
  timeoutMs: number,
): Promise<Record<string, VirtualMachineImportStatus>> {
  const deadline = Date.now() + timeoutMs;
  let failures = 0;
  for (;;) {
    try {
      const statuses = Object.fromEntries(
        await Promise.all(names.map(async (n) => [n, await importStatus(cluster, n)] as const)),
      );
      failures = 0;
      const pending = names.filter(
        (n) => !TERMINAL_IMPORT_STATUSES.includes(statuses[n]!.importStatus ?? ''),
      );
      if (!pending.length) return statuses;
      if (Date.now() > deadline)
        throw new Error(
          `imports not finished after ${timeoutMs} ms: ${pending.map((n) => `${n}=${statuses[n]!.importStatus ?? ''}`).join(', ')}`,
        );
    } catch (err) {
      if (Date.now() > deadline || ++failures >= 10) throw err;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function ovaImports(names: string[]): string {
  return names
    .map(
      (name) => `apiVersion: migration.harvesterhci.io/v1beta1
kind: VirtualMachineImport
metadata: {name: ${name}, namespace: default}
spec:
  virtualMachineName: appliance
  networkMapping: [{sourceNetwork: 'VM Network', destinationNetwork: vlan1}]
  sourceCluster: {name: appliance, namespace: default, kind: OvaSource, apiVersion: migration.harvesterhci.io/v1beta1}
`,
    )
    .join('---\n');
}

async function importTimes(
  dir: string,
  notes: string[],
): Promise<{ one: number | null; twenty: number | null }> {
  const stateDir = join(dir, 'pipeline');
  let cluster: LocalCluster | undefined;
  const run = async (names: string[], timeoutMs: number): Promise<number | null> => {
    const started = Date.now();
    await cluster!.kubectl(['apply', '-f', '-'], ovaImports(names));
    try {
      const statuses = await waitForImports(cluster!, names, timeoutMs);
      const failed = names.filter((n) => statuses[n]!.importStatus !== 'virtualMachineRunning');
      if (failed.length) {
        notes.push(
          `imports ${failed.join(', ')} ended ${statuses[failed[0]!]!.importStatus} (first: ${JSON.stringify(statuses[failed[0]!]!.importConditions?.at(-1)?.message ?? '')}): no time reported`,
        );
        return null;
      }
      notes.push(
        `${names.length} import(s), seconds per step (p50/max): ${stepSecondsLine(
          stepSeconds(
            names.map((n) => statuses[n]!.importConditions),
            started,
          ),
        )}`,
      );
      return (Date.now() - started) / 1000;
    } catch (err) {
      notes.push(`${names.length} import(s): ${(err as Error).message.slice(0, 300)}`);
      return null;
    }
  };
  try {
    cluster = await startLocalCluster({ stateDir, imageRetryDelayMs: 500 });
    await cluster.kubectl(['apply', '-f', '-'], await renderExample('sources.yaml', cluster.endpoints));
    await cluster.kubectl([
      'wait',
      '--for=jsonpath={.status.status}=clusterReady',
      'ovasource.migration',
      '--all',
      '--timeout=120s',
    ]);
    const one = await run(['bench-one'], 300_000);
    const twenty = await run(
      Array.from({ length: 20 }, (_, i) => `bench-many-${i + 1}`),
      420_000,
    );
    notes.push(
      'imports: the inventory OVA (one 32 MiB disk), kubectl apply → every import virtualMachineRunning',
    );
    return { one, twenty };
  } catch (err) {
    notes.push(`pipeline on the local cluster failed: ${(err as Error).message.slice(0, 300)}`);
    return { one: null, twenty: null };
  } finally {
    await cluster?.stop();
    await rm(stateDir, { recursive: true, force: true });
  }
}

export type ControlPlanePart = 'latency' | 'imports';

export async function measureControlPlane(
  dir: string,
  parts: ControlPlanePart[] = ['latency', 'imports'],
): Promise<{ result: ControlPlane; notes: string[] }> {
  const notes: string[] = [];
  let latencies: number[] = [];
  if (parts.includes('latency')) {
    try {
      latencies = await transitionLatencies(dir, notes);
    } catch (err) {
      notes.push(`transition latency not measured: ${(err as Error).message.slice(0, 300)}`);
    }
  }
  const { one, twenty } = parts.includes('imports')
    ? await importTimes(dir, notes)
    : { one: null, twenty: null };
  return {
    result: {
      transitionP50Ms: percentile(latencies, 50),
      transitionP99Ms: percentile(latencies, 99),
      oneImportSeconds: one,
      twentyImportsSeconds: twenty,
    },
    notes,
  };
}

// `node --import tsx bench/lib/control-plane.ts <dir> [latency|imports]`: only this part (both
// when no part is named). Prints `note: ...` lines, then the result as one JSON line.
if (import.meta.filename === process.argv[1]) {
  const part = process.argv[3] as ControlPlanePart | undefined;
  const r = await measureControlPlane(
    process.argv[2] ?? join(REPO, 'bench/work/control-plane'),
    part ? [part] : undefined,
  );
  for (const n of r.notes) console.log(`note: ${n}`);
  console.log(JSON.stringify(r.result));
  process.exit(0);
}
