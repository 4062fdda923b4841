// Boots the whole local cluster from this process: the real control plane (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler) as child processes, then our node agent and stand-ins
// (volumes and Harvester's StorageClasses, Longhorn's node, pods, Services, Knative Serving and Eventing, Harvester
// images, KubeVirt), the NADs, config/ applied with kubectl, and the simulated sources of the
// inventory. Used by `npm start`, `npm run cluster -- up` and end-to-end tests.
import { ensureBuilt } from '../build.ts';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { componentBinary } from './control-plane/components.ts';
import { startControlPlane, type ControlPlane } from './control-plane/control-plane.ts';
import { thirdPartyCrdDir } from './components/crds.ts';
import { componentLogger, runtimePaths, type RuntimeContext } from './runtime/context.ts';
import {
  addressPlan,
  chooseAddressing,
  type AddressPlan,
  type ClusterAddressing,
} from './runtime/network/addresses.ts';
import { ClusterNamespaces, netnsExists } from './runtime/network/namespaces.ts';
import { startNodeNetwork } from './runtime/network/node-network.ts';
import { NetworkPolicyController } from './runtime/network/policy-controller.ts';
import { PodNetwork } from './runtime/network/pod-network.ts';
import {
  installKnativeEventing,
  knativeEventingBuild,
  waitForEventingReady,
} from './runtime/knative/eventing-install.ts';
import type { FaultOptions } from './runtime/serving/faults.ts';
import { startHarvesterWebhook } from './runtime/harvester/admission-webhook.ts';
import { HarvesterImageController } from './runtime/harvester/image-controller.ts';
import { CdiController } from './runtime/cdi/controller.ts';
import { DEFAULT_HARVESTER_VERSION, harvesterBehaviour } from './runtime/harvester/versions.ts';
import { Kube } from '../functions/shared/kube/client.ts';
import { KubeVirtController } from './runtime/kubevirt/vm-controller.ts';
import {
  startSimulatedSources,
  type Endpoints,
  type SimulatedSources,
} from './runtime/sources/simulated-sources.ts';
import { FunctionController } from './runtime/serving/functions.ts';
import { NodeAgent } from './runtime/node-agent/node.ts';
import { PodRunner } from './runtime/node-agent/pods.ts';
import { LonghornNodeStandIn } from './runtime/storage/longhorn-node.ts';
import { VolumeClaims } from './runtime/storage/volumes.ts';

const run = promisify(execFile);
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

export interface LocalClusterOptions {
  /** Everything the cluster writes (kubeconfig, logs, volumes, images, sources). Default ".local". */
  stateDir?: string;
  inventoryFile?: string;
  faults?: FaultOptions;
  /** Apply config/ (CRDs, namespace, eventing, functions). Default true. */
  applyConfig?: boolean;
  /** Start vcsim, the OpenStack simulator and the OVA server. Default true. */
  sources?: boolean;
  /** Extra manifest files or directories applied after config/ (tests: probe functions, triggers). */
  extraManifests?: string[];
  /** Delay between Harvester image import retries (Harvester: 10 s). */
  imageRetryDelayMs?: number;
  /**
   * The Harvester release the stand-ins play (admission rules and controller behaviour,
   * runtime/harvester/versions.ts). Default: VMI_HARVESTER_VERSION, else the newest supported.
   */
  harvesterVersion?: string;
  /** Wait for every function to be ready before returning. Default true. */
  waitForFunctions?: boolean;
}

export interface LocalCluster {
  stateDir: string;
  kubeconfigPath: string;
  apiServerUrl: string;
  /** kube-apiserver's audit log: every service-account request with its RBAC decision. */
  auditLogPath: string;
  controlPlane: ControlPlane;
  endpoints: Endpoints;
  kube: Kube;
  /** Simulators the inventory asks for whose module is not in this checkout. */
  missingSimulators: string[];
  /** The Harvester release the stand-ins play (runtime/harvester/versions.ts). */
  harvesterVersion: string;
  /** The kubectl built with the control plane (also linked as <stateDir>/bin/kubectl). */
  kubectlBinary: string;
  /** Runs kubectl against the cluster. */
  kubectl(args: string[], input?: string): Promise<string>;
  /**
   * The pod network: its addresses, and the host's end of the link every pod's traffic to the
   * host (the API server, the simulated sources) goes through.
   */
  network: { plan: AddressPlan; hostLink: string };
  stop(): Promise<void>;
}

async function manifestFiles(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  return (await readdir(dir))
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort()
    .map((f) => join(dir, f));
}

export async function startLocalCluster(options: LocalClusterOptions = {}): Promise<LocalCluster> {
  const stateDir = resolve(options.stateDir ?? '.local');
  const paths = runtimePaths(stateDir);
  await mkdir(paths.logs, { recursive: true });
  const log = componentLogger(paths.logs);
  // The vm-import image is the build in dist/: rebuilt here when a source changed since, so the
  // cluster never runs old code.
  log('cluster', 'vm-import image build', { build: await ensureBuilt() });
  const stoppers: (() => Promise<void> | void)[] = [];
  const stop = async () => {
    for (const s of stoppers.reverse()) {
      try {
        await s();
      } catch (err) {
        log('cluster', 'stop step failed', { error: String(err) });
      }
    }
    stoppers.length = 0;
  };
  try {
    // The pod network first: the API server listens on the host's end of its link.
    const plan = addressPlan(await clusterAddressing(stateDir));
    const namespaces = new ClusterNamespaces(plan);
    await namespaces.create();
    stoppers.push(() => namespaces.destroy());
    const network = new PodNetwork(plan, namespaces);
    const controlPlane = await startControlPlane({
      stateDir,
      serviceCidr: plan.serviceCidr,
      address: plan.hostAddress,
      log: (message, fields) => log('control-plane', message, fields),
    });
    stoppers.push(() => controlPlane.stop());
    const kubeconfigPath = join(stateDir, 'kubeconfig');
    await writeFile(kubeconfigPath, await readFile(controlPlane.adminKubeconfigPath), { mode: 0o600 });
    const kubectlBinary = await componentBinary('kubernetes', 'kubectl');
    await mkdir(join(stateDir, 'bin'), { recursive: true });
    await rm(join(stateDir, 'bin', 'kubectl'), { force: true });
    await symlink(kubectlBinary, join(stateDir, 'bin', 'kubectl'));
    const kubectl = async (args: string[], input?: string): Promise<string> => {
      const p = run(kubectlBinary, ['--kubeconfig', kubeconfigPath, ...args], { maxBuffer: 64 << 20 });
      if (input !== undefined) {
        p.child.stdin?.end(input);
      }
      return (await p).stdout;
    };

    const kube = Kube.fromFile(kubeconfigPath);
    const knative = await knativeEventingBuild();
    const ctx: RuntimeContext = {
      kube,
      network,
      paths,
      projectRoot: PROJECT_ROOT,
      kubeconfigPath,
      nodeName: NODE_NAME,
      nodeBinary: await realpath(join(PROJECT_ROOT, 'node_modules', '.bin', 'node')),
      kubectlBinary,
      knativeEventing: { binDir: knative.binDir, version: knative.version },
      containerInit: await componentBinary('container-init', 'container-init'),
      log,
    };

    // CRDs first (ours and the third-party projects'), so that everything else can be applied.
    // Server-side: KubeVirt's CRDs are too large for kubectl's last-applied annotation (256 KiB).
    const crdFiles = [
      ...(await manifestFiles(await thirdPartyCrdDir())),
      // Longhorn's, for the Longhorn stand-in (storage/longhorn-node.ts).
      ...(await manifestFiles(join(await thirdPartyCrdDir(), 'longhorn'))),
      ...(await manifestFiles(join(PROJECT_ROOT, 'config', 'crds'))),
    ];
    if (crdFiles.length) await kubectl(['apply', '--server-side', ...crdFiles.flatMap((f) => ['-f', f])]);
    await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
    // Their storage answers 429 until its watch cache synced; kubectl retries 429 (Retry-After).
    // Not those converted by a webhook (Knative Eventing's, kept in etcd from an earlier start):
    // reading them needs the webhook's pod, which starts later.
    const crdNames = (
      await kubectl([
        'get',
        'crd',
        '-o',
        'jsonpath={range .items[?(@.spec.conversion.strategy!="Webhook")]}{.metadata.name} {end}',
      ])
    ).split(' ');
    await kubectl(['get', crdNames.filter(Boolean).join(','), '-A', '-o', 'name']);
    await kubectl(['apply', '-f', '-'], platformManifests());

    const harvester = harvesterBehaviour(
      options.harvesterVersion ?? (process.env.VMI_HARVESTER_VERSION || DEFAULT_HARVESTER_VERSION),
    );
    // Harvester's admission webhook, before anything creates an image or a VM.
    const webhook = await startHarvesterWebhook({
      kube: ctx.kube,
      harvester,
      dir: join(stateDir, 'harvester-webhook'),
      log: (message, fields) => log('harvester', message, fields),
    });
    stoppers.push(() => webhook.stop());
    log('harvester', 'stand-ins play Harvester', { version: harvester.version });

    const claims = new VolumeClaims(ctx);
    // The node agent acts as a kubelet does: with the Node's own credentials (system:node:<name>),
    // so the Node authorizer and NodeRestriction admission limit it to its node and its pods.
    const nodeCertificate = await controlPlane.nodeCredentials(NODE_NAME);
    const nodeKubeconfigPath = join(stateDir, 'control-plane', 'node.kubeconfig');
    await writeFile(nodeKubeconfigPath, controlPlane.kubeconfigFor(nodeCertificate), { mode: 0o600 });
    const nodeCtx: RuntimeContext = { ...ctx, kube: Kube.fromFile(nodeKubeconfigPath) };
    const pods = new PodRunner(nodeCtx, claims);
    const node = new NodeAgent(nodeCtx, {
      certificate: nodeCertificate,
      caCertPem: controlPlane.caCertPem,
      logs: pods,
    });
    await node.start();
    stoppers.push(() => node.stop());
    const nodeNetwork = await startNodeNetwork({
      plan,
      namespaces,
      controlPlane,
      kube,
      nodeName: NODE_NAME,
      dir: join(stateDir, 'node-network'),
      logs: paths.logs,
      log: (message, fields) => log('network', message, fields),
    });
    stoppers.push(() => nodeNetwork.stop());
    const networkPolicies = new NetworkPolicyController({
      kube,
      clusterNetnsPath: namespaces.clusterNetnsPath,
      nodeAddresses: [plan.hostAddress, plan.nodeAddress],
      log: (message, fields) => log('network', message, fields),
    });
    await networkPolicies.start();
    stoppers.push(() => networkPolicies.stop());
    const functions = new FunctionController(ctx, options.faults);
    const images = new HarvesterImageController(ctx, options.imageRetryDelayMs, harvester);
    const vms = new KubeVirtController(ctx);
    const cdi = new CdiController(ctx);
    const longhorn = new LonghornNodeStandIn(ctx, claims.dataDiskPath);
    claims.setImagePopulator(images.populator());
    for (const c of [claims, longhorn, pods, functions, images, cdi, vms]) {
      await c.start();
      stoppers.push(() => c.stop());
    }
    // Knative Eventing's own components, as Pods of its release's Deployments.
    await installKnativeEventing(kubectl, knative);
    log('cluster', 'knative eventing installed', { version: knative.version });

    if (options.applyConfig !== false && existsSync(join(PROJECT_ROOT, 'config', 'kustomization.yaml'))) {
      await kubectl(['apply', '-k', join(PROJECT_ROOT, 'config')]);
    }
    for (const m of options.extraManifests ?? []) await kubectl(['apply', '-f', m]);
    await waitForEventingReady(kubectl);
    if (options.waitForFunctions !== false) {
      const notReady = await functions.waitReady(90_000);
      if (notReady.length) log('cluster', 'functions not ready at boot', { notReady });
    }

    let sources: SimulatedSources | undefined;
    if (options.sources !== false) {
      sources = await startSimulatedSources({
        stateDir,
        host: plan.hostAddress,
        inventoryFile: options.inventoryFile,
        log,
      });
      stoppers.push(() => sources!.stop());
    }
    const endpoints: Endpoints = { kubeconfig: kubeconfigPath, ...(sources?.endpoints ?? {}) };
    await writeFile(join(stateDir, 'endpoints.json'), `${JSON.stringify(endpoints, null, 2)}\n`);
    log('cluster', 'ready', { apiServer: controlPlane.url });
    return {
      stateDir,
      kubeconfigPath,
      apiServerUrl: controlPlane.url,
      auditLogPath: controlPlane.auditLogPath,
      controlPlane,
      endpoints,
      kube,
      missingSimulators: sources?.missing ?? [],
      harvesterVersion: harvester.version,
      kubectlBinary,
      kubectl,
      network: { plan, hostLink: namespaces.hostLink },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The one Node of the local cluster, run by our node agent. */
export const NODE_NAME = 'vm-import-local';

/** The cluster's address block, chosen once per state directory (etcd keeps allocations). */
async function clusterAddressing(stateDir: string): Promise<ClusterAddressing> {
  const file = join(stateDir, 'network.json');
  const saved = await readFile(file, 'utf8').then(
    (t) => JSON.parse(t) as Partial<ClusterAddressing>,
    () => undefined,
  );
  if (typeof saved?.block === 'number') return { block: saved.block };
  if (saved)
    throw new Error(
      `${stateDir} was made by a local cluster without a pod network (its Services have 127.x cluster IPs in etcd): remove ${join(stateDir, 'etcd')} and ${file} (or the whole directory) and start again`,
    );
  const addressing = chooseAddressing((plan) => netnsExists(plan.namePrefix));
  await mkdir(stateDir, { recursive: true });
  await writeFile(file, JSON.stringify(addressing));
  return addressing;
}

/** What a Harvester cluster has before anything is installed: its default class and VLAN networks. */
export function platformManifests(): string {
  const nad = (name: string, vlan: number) => `---
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata:
  name: ${name}
  namespace: default
  labels:
    network.harvesterhci.io/type: L2VlanNetwork
    network.harvesterhci.io/vlan-id: "${vlan}"
spec:
  config: '{"cniVersion":"0.3.1","name":"${name}","type":"bridge","bridge":"mgmt-br","promiscMode":true,"vlan":${vlan},"ipam":{}}'
`;
  // kubeadm's RBAC for CoreDNS (cmd/kubeadm/app/phases/addons/dns/manifests.go), bound to the
  // identity of our CoreDNS's client certificate.
  // The tests import into "default": PodSecurity holds every pod we create there to `restricted`.
  // kubeadm's binding for the group of the API server's kubelet-client certificate (kubeadm
  // cmd/kubeadm/app/phases/kubeconfig: ClusterAdminsGroupAndClusterRoleBinding): without it the
  // kubelet's authorization refuses the API server's proxying (kubectl logs).
  return `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:coredns
rules:
  - {apiGroups: [""], resources: [endpoints, services, pods, namespaces], verbs: [list, watch]}
  - {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: system:coredns
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:coredns}
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:coredns"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: kubeadm:cluster-admins
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: "kubeadm:cluster-admins"}
---
apiVersion: v1
kind: Namespace
metadata:
  name: default
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/warn: restricted
${nad('vlan1', 1)}${nad('vlan2', 2)}`;
}
