// Helpers for end-to-end tests on the local cluster: apply YAML with kubectl, wait for imports.
import axios from 'axios';
import { CloudEvent, HTTP } from 'cloudevents';
import { PING_EVENT_TYPE, RESYNC_PING_DATA } from '../../events/ping.ts';
import { BROKER, NAMESPACE, PING_SOURCE } from '../../events/routing.ts';
import { isTerminalImport, type VirtualMachineImportStatus } from '../../functions/shared/api/index.ts';
import { transportProblemOf } from '../../functions/shared/sources/transport-errors.ts';
import type { LocalCluster } from '../../local-cluster/cluster.ts';
import { renderExample } from '../../local-cluster/examples.ts';
import { importStatus } from '../../local-cluster/import-status.ts';
import { open } from 'node:fs/promises';

/** `kubectl apply` of config/examples/sources.yaml, then waits until every source is clusterReady. */
export async function applyExampleSources(cluster: LocalCluster, timeoutSeconds = 60): Promise<void> {
  await cluster.kubectl(['apply', '-f', '-'], await renderExample('sources.yaml', cluster.endpoints));
  for (const kind of ['vmwaresource', 'openstacksource', 'ovasource'])
    await cluster.kubectl([
      'wait',
      '--for=jsonpath={.status.status}=clusterReady',
      `${kind}.migration`,
      '--all',
      `--timeout=${timeoutSeconds}s`,
    ]);
}

function isConnectionProblem(e: unknown): boolean {
  const problem = transportProblemOf(e);
  return (
    problem.kind === 'unreachable' ||
    problem.kind === 'tls-handshake' ||
    (problem.kind === 'other' && /^UND_ERR_(SOCKET|CONNECT_TIMEOUT)$/.test(problem.code ?? ''))
  );
}

/** Waits until every import is terminal; returns their statuses. */
export async function waitForImports(
  cluster: LocalCluster,
  names: string[],
  timeoutMs: number,
): Promise<Record<string, VirtualMachineImportStatus>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let statuses: Record<string, VirtualMachineImportStatus>;
    try {
      statuses = Object.fromEntries(
        await Promise.all(names.map(async (n) => [n, await importStatus(cluster, n)] as const)),
      );
    } catch (e) {
      // A connection to the API server refused or dropped under heavy load (client-node's fetch:
      // TypeError "fetch failed" caused by ECONNREFUSED, ECONNRESET, undici's UND_ERR_SOCKET …)
      // is not the imports' fault: poll again until the deadline. API errors (an HTTP status)
      // and anything else still fail at once.
      if (!isConnectionProblem(e) || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 1000));
      continue;
    }
    const pending = names.filter((n) => !isTerminalImport(statuses[n]));
    if (!pending.length) return statuses;
    if (Date.now() > deadline)
      throw new Error(
        `imports not finished after ${timeoutMs} ms: ${pending.map((n) => `${n}=${statuses[n]!.importStatus ?? ''} ${JSON.stringify(statuses[n]!.importConditions?.at(-1)?.message ?? '')}`).join(', ')}`,
      );
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/**
 * Compares an imported raw image with its source disk: equal over the source's length, zeros
 * after it (a Cinder volume is whole GiB: the simulator pads the data with zeros).
 */
export async function sameDisk(imagePath: string, sourcePath: string): Promise<boolean> {
  const [image, source] = await Promise.all([open(imagePath), open(sourcePath)]);
  try {
    const a = Buffer.alloc(1 << 20);
    const b = Buffer.alloc(1 << 20);
    for (let offset = 0; ; offset += a.length) {
      const [ra, rb] = await Promise.all([
        image.read(a, 0, a.length, offset),
        source.read(b, 0, b.length, offset),
      ]);
      if (ra.bytesRead === 0 && rb.bytesRead === 0) return true;
      if (rb.bytesRead === 0) {
        if (!a.subarray(0, ra.bytesRead).every((x) => x === 0)) return false;
        continue;
      }
      if (ra.bytesRead < rb.bytesRead) return false;
      if (!a.subarray(0, rb.bytesRead).equals(b.subarray(0, rb.bytesRead))) return false;
      if (!a.subarray(rb.bytesRead, ra.bytesRead).every((x) => x === 0)) return false;
    }
  } finally {
    await Promise.all([image.close(), source.close()]);
  }
}

/**
 * A resync tick now, instead of waiting up to a minute for the PingSource's schedule: the event
 * the PingSource sends (type, source, data), posted to the Broker's ingress as any source posts.
 */
export async function sendResyncTick(cluster: LocalCluster): Promise<void> {
  const ingress = await cluster.kubectl([
    'get',
    'service',
    'broker-ingress',
    '-n',
    'knative-eventing',
    '-o',
    'jsonpath={.spec.clusterIP}',
  ]);
  const tick = new CloudEvent({
    type: PING_EVENT_TYPE,
    source: `/apis/v1/namespaces/${NAMESPACE}/pingsources/${PING_SOURCE}`,
    datacontenttype: 'application/json',
    data: RESYNC_PING_DATA,
  });
  const { headers, body } = HTTP.binary(tick);
  const res = await axios.post(`http://${ingress}/${NAMESPACE}/${BROKER}`, body, { headers, proxy: false });
  if (res.status !== 202) throw new Error(`the broker ingress answered ${res.status} to a resync tick`);
}
