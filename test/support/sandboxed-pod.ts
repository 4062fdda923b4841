// Runs one pod spec through the node agent's container path (image table, planContainer, volume
// setup, bubblewrap sandbox) without a cluster: for tests of what a container sees.
import { mkdir, mkdtemp, readFile, realpath } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt } from '../../build.ts';
import { PROJECT_ROOT } from '../../local-cluster/cluster.ts';
import { componentBinary } from '../../local-cluster/control-plane/components.ts';
import { addressPlan, chooseAddressing } from '../../local-cluster/runtime/network/addresses.ts';
import { ClusterNamespaces, netnsExists } from '../../local-cluster/runtime/network/namespaces.ts';
import { PodNetwork, type PodAttachment } from '../../local-cluster/runtime/network/pod-network.ts';
import { ContainerLogWriter } from '../../local-cluster/runtime/node-agent/container-logs.ts';
import {
  prepareVolumes,
  startContainer,
  type ContainerProcess,
} from '../../local-cluster/runtime/node-agent/container-process.ts';
import {
  planContainer,
  type ConfigSources,
  type ContainerPlan,
  type PodSpec,
} from '../../local-cluster/runtime/node-agent/container-spec.ts';
import { resolveImage } from '../../local-cluster/runtime/node-agent/images.ts';
import { writePodFiles } from '../../local-cluster/runtime/node-agent/pod-files.ts';

export interface SandboxedPod {
  podIp: string;
  plan: ContainerPlan;
  process: ContainerProcess;
  /** Directory of PVC `claim` on the node. */
  claimDir(claim: string): string;
  /** The container's output so far (its plain log). */
  output(): Promise<string>;
}

/** The pod network of these pods: the local cluster's, without a cluster (no DNS, no Services). */
let network: Promise<{ namespaces: ClusterNamespaces; pods: PodNetwork }> | undefined;
const attachments: PodAttachment[] = [];

function podNetwork() {
  network ??= (async () => {
    const namespaces = new ClusterNamespaces(
      addressPlan(chooseAddressing((plan) => netnsExists(plan.namePrefix))),
    );
    await namespaces.create();
    return { namespaces, pods: new PodNetwork(namespaces.plan, namespaces) };
  })();
  return network;
}

/** Removes the pods' network namespaces and the host link (call once the pods are gone). */
export async function stopSandboxNetwork(): Promise<void> {
  if (!network) return;
  const { namespaces } = await network;
  network = undefined;
  attachments.length = 0;
  await namespaces.destroy();
}

/** Host directory of each claim: created (root-owned, 0755, as a provisioner leaves it) on demand. */
export async function sandboxWorkdir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'sandboxed-pod-'));
}

export async function runSandboxedPod(
  workdir: string,
  name: string,
  spec: PodSpec,
  sources: ConfigSources = { secrets: {}, configMaps: {} },
): Promise<SandboxedPod> {
  const { pods } = await podNetwork();
  const attachment = await pods.attach();
  attachments.push(attachment);
  const podIp = attachment.ip;
  const podDir = join(workdir, 'pods', name);
  const claimDir = (claim: string) => join(workdir, 'volumes', claim);
  for (const v of spec.volumes ?? [])
    if (v.persistentVolumeClaim)
      await mkdir(claimDir(v.persistentVolumeClaim.claimName), { recursive: true });
  await ensureBuilt();
  const image = resolveImage(spec.containers[0]?.image, {
    projectRoot: PROJECT_ROOT,
    nodeBinary: await realpath(join(PROJECT_ROOT, 'node_modules', '.bin', 'node')),
  });
  const plan = planContainer(
    spec,
    {
      name,
      namespace: 'default',
      uid: `uid-${name}`,
      podIp,
      hostIp: pods.plan.hostAddress,
      nodeName: 'test-node',
      serviceAccountName: spec.serviceAccountName ?? 'default',
      labels: {},
      annotations: {},
    },
    sources,
    { pvcDir: claimDir, podVolumeDir: (v) => join(podDir, 'volumes', v) },
    image,
    { HOSTNAME: name },
  );
  await prepareVolumes(plan);
  const files = await writePodFiles({
    podDir,
    hostname: name,
    namespace: 'default',
    podIp,
    image,
    dnsServer: pods.plan.dnsServiceIp,
  });
  const plainLog = join(workdir, 'logs', `${name}.log`);
  const log = await ContainerLogWriter.create(join(podDir, 'logs', '0.log'), plainLog);
  const process = startContainer(plan, files, log, {
    containerInit: await componentBinary('container-init', 'container-init'),
    netnsPath: attachment.netnsPath,
  });
  return {
    podIp,
    plan,
    process,
    claimDir,
    output: () => readFile(plainLog, 'utf8').catch(() => ''),
  };
}

/** Polls `url` until it answers 2xx (→ 'ready') or the container exits (→ 'exited'). */
export async function readyOrExited(
  pod: SandboxedPod,
  url: string,
  timeoutMs = 60_000,
): Promise<'ready' | 'exited' | 'timeout'> {
  let exited = false;
  void pod.process.exited.then(() => (exited = true));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited) return 'exited';
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      if (res.ok) return 'ready';
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return 'timeout';
}
