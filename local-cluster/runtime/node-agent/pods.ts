// The kubelet of the local cluster: runs the first container of every Pod the scheduler bound to
// this node in a sandbox (sandbox.ts) built from its image (images.ts), reports phase, podIP,
// container state and conditions in the Pod's status, probes it, restarts it per restartPolicy
// with the kubelet's back-off, keeps its logs for the kubelet API, and stops it with the pod's
// termination grace period when the Pod is deleted (directly or by garbage collection).
import { CoreV1Api } from '@kubernetes/client-node';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { RuntimeContext } from '../context.ts';
import { isApiError, type KubeObject, type ListWatchHandle } from '../../../functions/shared/kube/client.ts';
import {
  planContainer,
  PodSpecError,
  type ConfigSources,
  type ContainerPlan,
  type PodSpec,
  type Volume,
  type Container,
} from './container-spec.ts';
import {
  containerInstances,
  containerLogDir,
  containerLogFile,
  ContainerLogWriter,
} from './container-logs.ts';
import { prepareVolumes, startContainer, type ContainerProcess, type ExitInfo } from './container-process.ts';
import { ImagePullError, resolveImage } from './images.ts';
import type { LogLookup } from './kubelet-api.ts';
import { containerProbes, probeUrl, runProbe, type ProbeLoop } from './probes.ts';
import { writePodFiles } from './pod-files.ts';
import type { PodAttachment } from '../network/pod-network.ts';
import type { PodRuntimeFiles } from './sandbox.ts';
import type { VolumeClaims } from '../storage/volumes.ts';

interface RunningPod {
  uid: string;
  name: string;
  namespace: string;
  /** Empty until the pod's network namespace exists (its first start). */
  podIp: string;
  network?: PodAttachment;
  process?: ContainerProcess;
  probes: ProbeLoop[];
  restarts: number;
  /** The restart count of the last container instance that exited (for the log API's follow). */
  exitedInstance?: number;
  ready: boolean;
  lastTerminated?: TerminatedState;
  stopping: boolean;
  retryTimer?: NodeJS.Timeout;
}

interface TerminatedState {
  exitCode: number;
  reason: string;
  startedAt: Date;
  finishedAt: Date;
  signal: NodeJS.Signals | null;
}

export type PodObject = KubeObject & { spec?: PodSpec & Record<string, unknown> };

function referencedConfig(spec: PodSpec): { secrets: Set<string>; configMaps: Set<string> } {
  const secrets = new Set<string>();
  const configMaps = new Set<string>();
  const c: Container | undefined = spec.containers?.[0];
  for (const e of c?.env ?? []) {
    if (e.valueFrom?.secretKeyRef) secrets.add(e.valueFrom.secretKeyRef.name);
    if (e.valueFrom?.configMapKeyRef) configMaps.add(e.valueFrom.configMapKeyRef.name);
  }
  for (const f of c?.envFrom ?? []) {
    if (f.secretRef) secrets.add(f.secretRef.name);
    if (f.configMapRef) configMaps.add(f.configMapRef.name);
  }
  for (const v of spec.volumes ?? ([] as Volume[])) {
    if (v.secret) secrets.add(v.secret.secretName);
    if (v.configMap) configMaps.add(v.configMap.name);
    for (const src of v.projected?.sources ?? []) {
      if (src.secret) secrets.add(src.secret.name);
      if (src.configMap) configMaps.add(src.configMap.name);
    }
  }
  return { secrets, configMaps };
}

/** A pod may name its plain log file in .local/logs (functions: "<function>.log"). */
export const LOG_NAME_ANNOTATION = 'local.vm-import.harvesterhci.io/log-name';

export function podLogFile(ctx: RuntimeContext, namespace: string, name: string, logName?: string): string {
  const safe = logName?.replace(/[^A-Za-z0-9_.-]/g, '_');
  return join(ctx.paths.logs, safe ? `${safe}.log` : `pod-${namespace}-${name}.log`);
}

/** The kubelet's container restart back-off: 10 s doubling up to 5 min. */
export function restartBackoffMs(restarts: number): number {
  return Math.min(10_000 * 2 ** Math.max(0, restarts - 1), 300_000);
}

export class PodRunner {
  private readonly pods = new Map<string, RunningPod>();
  private watch?: ListWatchHandle;

  constructor(
    private readonly ctx: RuntimeContext,
    private readonly claims: VolumeClaims,
  ) {}

  async start(): Promise<void> {
    // As a kubelet watches: only the pods bound to this node (the Node authorizer allows no other list).
    const fieldSelector = `spec.nodeName=${this.ctx.nodeName}`;
    this.watch = this.ctx.kube.listWatch(
      { apiVersion: 'v1', kind: 'Pod', fieldSelector, emitListed: true },
      (type, obj) => {
        void this.onPod(type, obj as PodObject).catch((err: unknown) =>
          this.ctx.log('pods', 'pod handling failed', { pod: obj.metadata?.name, error: String(err) }),
        );
      },
    );
    await this.watch.ready;
  }

  private podDir(namespace: string, name: string, uid: string): string {
    return containerLogDir(this.ctx.paths.pods, namespace, name, uid);
  }

  private async onPod(type: string, pod: PodObject): Promise<void> {
    const uid = pod.metadata?.uid ?? '';
    const known = this.pods.get(uid);
    const ns = pod.metadata?.namespace ?? 'default';
    if (type === 'DELETED' || pod.metadata?.deletionTimestamp) {
      if (known) await this.terminate(known, type !== 'DELETED' ? pod : undefined);
      else if (type !== 'DELETED' && pod.spec?.nodeName === this.ctx.nodeName)
        await this.confirmDeletion(pod);
      if (type === 'DELETED')
        await rm(this.podDir(ns, pod.metadata!.name!, uid), { recursive: true, force: true });
      return;
    }
    if (known) return;
    // Only pods the scheduler bound to this node (as a kubelet watches spec.nodeName=<node>).
    if ((pod.spec as { nodeName?: string } | undefined)?.nodeName !== this.ctx.nodeName) return;
    const phase = (pod.status as { phase?: string } | undefined)?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') return;
    if (phase === 'Running') {
      // A pod left running by a previous node agent: its process is gone, like a node reboot.
      await this.writeStatus(pod, {
        phase: 'Failed',
        reason: 'NodeLost',
        message: 'the node agent restarted',
      });
      return;
    }
    const entry: RunningPod = {
      uid,
      name: pod.metadata!.name!,
      namespace: ns,
      podIp: '',
      probes: [],
      restarts: 0,
      ready: false,
      stopping: false,
    };
    this.pods.set(uid, entry);
    this.inBackground(entry, 'start', () => this.launch(entry, pod));
  }

  private async loadConfig(pod: PodObject): Promise<ConfigSources> {
    const refs = referencedConfig(pod.spec!);
    const ns = pod.metadata!.namespace ?? 'default';
    const sources: ConfigSources = { secrets: {}, configMaps: {} };
    for (const name of refs.secrets) {
      const s = await this.ctx.kube.find('v1', 'Secret', ns, name);
      sources.secrets[name] = s ? ((s as { data?: Record<string, string> }).data ?? {}) : undefined;
    }
    for (const name of refs.configMaps) {
      const c = await this.ctx.kube.find('v1', 'ConfigMap', ns, name);
      sources.configMaps[name] = c ? ((c as { data?: Record<string, string> }).data ?? {}) : undefined;
    }
    const token = pod
      .spec!.volumes?.flatMap((v) => v.projected?.sources ?? [])
      .find((s) => s.serviceAccountToken)?.serviceAccountToken;
    if (token) sources.serviceAccountToken = await this.requestToken(pod, token);
    return sources;
  }

  /**
   * A token of the pod's service account bound to the pod, requested as the kubelet does it: with
   * the node's credentials (the Node authorizer allows it only for pods bound to this node).
   */
  private async requestToken(
    pod: PodObject,
    projected: { audience?: string; expirationSeconds?: number },
  ): Promise<string> {
    const core = this.ctx.kube.config.makeApiClient(CoreV1Api);
    const res = await core.createNamespacedServiceAccountToken({
      namespace: pod.metadata!.namespace ?? 'default',
      name: pod.spec!.serviceAccountName || 'default',
      body: {
        spec: {
          audiences: projected.audience ? [projected.audience] : [],
          expirationSeconds: projected.expirationSeconds ?? 3607,
          boundObjectRef: {
            apiVersion: 'v1',
            kind: 'Pod',
            name: pod.metadata!.name!,
            uid: pod.metadata!.uid!,
          },
        },
      },
    });
    if (!res.status?.token) throw new Error('the TokenRequest returned no token');
    return res.status.token;
  }

  /** What the kubelet puts into every container's environment. */
  private kubeletEnv(entry: RunningPod, spec: PodSpec): Record<string, string> {
    return {
      HOSTNAME: spec.hostname ?? entry.name,
      // The `kubernetes` Service (kube-proxy routes it to the API server).
      KUBERNETES_SERVICE_HOST: this.ctx.network.plan.apiServiceIp,
      KUBERNETES_SERVICE_PORT: '443',
      KUBERNETES_SERVICE_PORT_HTTPS: '443',
    };
  }

  private async launch(entry: RunningPod, pod: PodObject): Promise<void> {
    if (entry.stopping) return;
    const ns = entry.namespace;
    const spec = pod.spec!;
    const container = spec.containers[0]!;
    let plan: ContainerPlan;
    let files: PodRuntimeFiles;
    try {
      const waiting = await this.claims.claimsNotReady(ns, spec);
      if (waiting) {
        await this.writeStatus(pod, {
          phase: 'Pending',
          conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: waiting }],
        });
        this.retryLater(entry, 1000);
        return;
      }
      if (!entry.network) {
        // The sandbox of a pod (its network namespace) outlives its containers' restarts.
        entry.network = await this.ctx.network.attach();
        entry.podIp = entry.network.ip;
      }
      const image = resolveImage(container.image, {
        projectRoot: this.ctx.projectRoot,
        nodeBinary: this.ctx.nodeBinary,
        kubectlBinary: this.ctx.kubectlBinary,
        knativeEventing: this.ctx.knativeEventing,
      });
      const sources = await this.loadConfig(pod);
      plan = planContainer(
        spec,
        {
          name: entry.name,
          namespace: ns,
          uid: entry.uid,
          podIp: entry.podIp,
          hostIp: this.ctx.network.plan.hostAddress,
          nodeName: this.ctx.nodeName,
          serviceAccountName: spec.serviceAccountName ?? 'default',
          labels: (pod.metadata?.labels as Record<string, string>) ?? {},
          annotations: (pod.metadata?.annotations as Record<string, string>) ?? {},
        },
        sources,
        {
          pvcDir: (claim) => this.claims.volumeDir(ns, claim),
          podVolumeDir: (v) => join(this.podDir(ns, entry.name, entry.uid), 'volumes', v),
        },
        image,
        this.kubeletEnv(entry, spec),
      );
      await prepareVolumes(plan);
      files = await writePodFiles({
        podDir: this.podDir(ns, entry.name, entry.uid),
        hostname: spec.hostname ?? entry.name,
        namespace: ns,
        podIp: entry.podIp,
        image,
        dnsServer: this.ctx.network.plan.dnsServiceIp,
      });
      const owner = { uid: plan.uid, gid: plan.gid };
      files.devices = await Promise.all(
        plan.devices.map(async (d) => ({
          host: await this.claims.blockDevice(ns, d.claim, owner),
          path: d.devicePath,
        })),
      );
    } catch (err) {
      // API errors (a busy server, the Node authorizer's graph not yet knowing the pod) are
      // retried by inBackground; what the pod spec or image causes is reported on the pod.
      if (!(err instanceof PodSpecError || err instanceof ImagePullError)) throw err;
      const { reason, message } = err;
      this.ctx.log('pods', 'pod cannot start', { pod: `${ns}/${entry.name}`, reason, message });
      // The kubelet keeps such a pod Pending and retries: a Secret may appear, an image be pushed.
      await this.writeStatus(pod, { phase: 'Pending', podIp: entry.podIp, waiting: { reason, message } });
      this.retryLater(entry, reason === 'ErrImagePull' ? 10_000 : 2000);
      return;
    }
    const podLogDir = this.podDir(ns, entry.name, entry.uid);
    const logName = (pod.metadata?.annotations as Record<string, string> | undefined)?.[LOG_NAME_ANNOTATION];
    const log = await ContainerLogWriter.create(
      containerLogFile(podLogDir, container.name, entry.restarts),
      podLogFile(this.ctx, ns, entry.name, logName),
    );
    const proc = startContainer(plan, files, log, {
      containerInit: this.ctx.containerInit,
      netnsPath: entry.network.netnsPath,
    });
    entry.process = proc;
    this.ctx.log('pods', 'started', {
      pod: `${ns}/${entry.name}`,
      pid: proc.pid,
      podIp: entry.podIp,
      uid: plan.uid,
      readOnlyRoot: plan.readOnlyRootFilesystem,
    });
    void proc.exited.then((info) =>
      this.inBackground(entry, 'exit handling', () => this.onExit(entry, info)),
    );
    const { readiness, liveness } = containerProbes(container);
    const readinessUrl = probeUrl(readiness, container, entry.podIp);
    const livenessUrl = probeUrl(liveness, container, entry.podIp);
    entry.ready = !readinessUrl;
    await this.writeRunning(entry, pod, proc);
    if (readinessUrl)
      entry.probes.push(
        runProbe(readiness!, readinessUrl, false, (ready) =>
          this.inBackground(entry, 'readiness', async () => {
            if (entry.process !== proc || entry.stopping) return;
            entry.ready = ready;
            const current = await this.currentPod(entry);
            if (current) await this.writeRunning(entry, current, proc);
          }),
        ),
      );
    if (livenessUrl)
      entry.probes.push(
        runProbe(liveness!, livenessUrl, true, (alive) => {
          if (alive || entry.process !== proc || entry.stopping) return;
          this.ctx.log('pods', 'liveness probe failed, restarting the container', {
            pod: `${ns}/${entry.name}`,
          });
          void proc.stop(((spec.terminationGracePeriodSeconds as number | undefined) ?? 30) * 1000);
        }),
      );
  }

  private writeRunning(entry: RunningPod, pod: PodObject, proc: ContainerProcess): Promise<void> {
    return this.writeStatus(pod, {
      phase: 'Running',
      podIp: entry.podIp,
      startedAt: proc.startedAt,
      restarts: entry.restarts,
      ready: entry.ready,
      lastTerminated: entry.lastTerminated,
    });
  }

  private retryLater(entry: RunningPod, ms: number): void {
    entry.retryTimer = setTimeout(() => this.inBackground(entry, 'relaunch', () => this.relaunch(entry)), ms);
  }

  /**
   * Runs work no caller awaits (timers, exit handlers): an API server that is busy or already
   * stopped must cost a log line, never the whole node agent.
   */
  private inBackground(entry: RunningPod, what: string, work: () => Promise<void>): void {
    work().catch((err: unknown) => {
      if (entry.stopping) return;
      this.ctx.log('pods', `${what} failed, retrying in 2 s`, {
        pod: `${entry.namespace}/${entry.name}`,
        error: err instanceof Error ? err.message : String(err),
      });
      // level-triggered: relaunch re-reads the pod and does whatever it needs now
      this.retryLater(entry, 2000);
    });
  }

  private async currentPod(entry: RunningPod): Promise<PodObject | undefined> {
    const pod = (await this.ctx.kube.find('v1', 'Pod', entry.namespace, entry.name)) as PodObject | undefined;
    return pod && pod.metadata?.uid === entry.uid && !pod.metadata?.deletionTimestamp ? pod : undefined;
  }

  private async relaunch(entry: RunningPod): Promise<void> {
    const pod = await this.currentPod(entry);
    if (!pod) {
      this.forget(entry);
      return;
    }
    if (entry.process) return; // running again already
    await this.launch(entry, pod);
  }

  private async onExit(entry: RunningPod, info: ExitInfo): Promise<void> {
    for (const p of entry.probes.splice(0)) p.stop();
    entry.exitedInstance = entry.restarts;
    const startedAt = entry.process?.startedAt ?? info.finishedAt;
    entry.process = undefined;
    entry.ready = false;
    if (entry.stopping) return;
    const pod = await this.currentPod(entry);
    if (!pod) {
      this.forget(entry);
      return;
    }
    const ok = info.exitCode === 0;
    const terminated: TerminatedState = {
      exitCode: info.exitCode ?? (info.signal ? 128 + 9 : 1),
      reason: ok ? 'Completed' : 'Error',
      startedAt,
      finishedAt: info.finishedAt,
      signal: info.signal,
    };
    this.ctx.log('pods', 'container exited', {
      pod: `${entry.namespace}/${entry.name}`,
      exitCode: terminated.exitCode,
      signal: info.signal,
    });
    const policy = pod.spec?.restartPolicy ?? 'Always';
    if (policy === 'Always' || (policy === 'OnFailure' && !ok)) {
      entry.restarts++;
      entry.lastTerminated = terminated;
      await this.writeStatus(pod, {
        phase: 'Running',
        podIp: entry.podIp,
        waiting: {
          reason: 'CrashLoopBackOff',
          message: `back-off ${restartBackoffMs(entry.restarts) / 1000}s restarting failed container=${pod.spec!.containers[0]!.name} pod=${entry.name}_${entry.namespace}(${entry.uid})`,
        },
        restarts: entry.restarts,
        lastTerminated: terminated,
      });
      this.retryLater(entry, restartBackoffMs(entry.restarts));
      return;
    }
    await this.writeStatus(pod, {
      phase: ok ? 'Succeeded' : 'Failed',
      podIp: entry.podIp,
      terminated,
      restarts: entry.restarts,
      lastTerminated: entry.lastTerminated,
    });
    this.forget(entry);
  }

  private forget(entry: RunningPod): void {
    if (entry.retryTimer) clearTimeout(entry.retryTimer);
    for (const p of entry.probes.splice(0)) p.stop();
    this.pods.delete(entry.uid);
    const network = entry.network;
    if (network)
      void this.ctx.network
        .detach(network)
        .catch((err: unknown) => this.ctx.log('pods', 'pod network teardown failed', { error: String(err) }));
  }

  private async terminate(entry: RunningPod, pod: PodObject | undefined): Promise<void> {
    if (entry.stopping) return;
    entry.stopping = true;
    if (entry.retryTimer) clearTimeout(entry.retryTimer);
    for (const p of entry.probes.splice(0)) p.stop();
    const grace = ((pod?.spec?.terminationGracePeriodSeconds as number | undefined) ?? 30) * 1000;
    if (entry.process) {
      const info = await entry.process.stop(grace);
      this.ctx.log('pods', 'stopped', { pod: `${entry.namespace}/${entry.name}`, signal: info.signal });
    }
    this.forget(entry);
    await rm(join(this.podDir(entry.namespace, entry.name, entry.uid), 'volumes'), {
      recursive: true,
      force: true,
    });
    // Graceful deletion done: finish it like the kubelet does (grace period 0).
    if (pod) await this.confirmDeletion(pod);
  }

  /** A kubelet ends a graceful deletion once nothing runs: deletes with grace period 0. */
  private async confirmDeletion(pod: PodObject): Promise<void> {
    try {
      await this.ctx.kube.objects.delete(pod, undefined, undefined, 0);
    } catch (err) {
      if (!isApiError(err, 404)) throw err;
    }
  }

  /** The kubelet API's view of a container's log (pkg/kubelet/kubelet_pods.go GetContainerLogs). */
  async findLog(namespace: string, name: string, container: string, previous: boolean): Promise<LogLookup> {
    const pod = (await this.ctx.kube.find('v1', 'Pod', namespace, name)) as PodObject | undefined;
    if (!pod || (pod.spec as { nodeName?: string } | undefined)?.nodeName !== this.ctx.nodeName)
      return { status: 404, message: `pod "${name}" not found` };
    const uid = pod.metadata!.uid!;
    if (!pod.spec?.containers.some((c) => c.name === container))
      return { status: 400, message: `container "${container}" in pod "${name}" is not available` };
    const instances = await containerInstances(this.podDir(namespace, name, uid), container);
    const running = this.pods.get(uid);
    // While a crashed container waits out its back-off, its last run is both what `kubectl logs`
    // shows and the "previous" one (kubelet_pods.go validateContainerLogStatus: lastState).
    const latest = instances.at(-1);
    const backingOff = !!running && latest !== undefined && latest < running.restarts;
    const pick = previous ? (backingOff ? instances.at(-1) : instances.at(-2)) : instances.at(-1);
    if (pick === undefined)
      return previous
        ? { status: 400, message: `previous terminated container "${container}" in pod "${name}" not found` }
        : {
            status: 400,
            message: `container "${container}" in pod "${name}" is waiting to start: ContainerCreating`,
          };
    return {
      file: containerLogFile(this.podDir(namespace, name, uid), container, pick),
      // Until that instance exits: its log file exists a moment before its process does.
      running: () => {
        const entry = this.pods.get(uid);
        return !previous && !!entry && entry.restarts === pick && entry.exitedInstance !== pick;
      },
    };
  }

  private async writeStatus(
    pod: PodObject,
    s: {
      phase: string;
      podIp?: string;
      reason?: string;
      message?: string;
      startedAt?: Date;
      restarts?: number;
      waiting?: { reason: string; message: string };
      terminated?: TerminatedState;
      lastTerminated?: TerminatedState;
      conditions?: Record<string, string>[];
      /** Readiness (probe passed); default: ready as soon as it runs. */
      ready?: boolean;
    },
  ): Promise<void> {
    const now = new Date().toISOString();
    const container = pod.spec?.containers?.[0];
    const started = s.phase === 'Running' && !s.waiting;
    const ready = started && s.ready !== false;
    const terminatedState = (t: TerminatedState) => ({
      terminated: {
        exitCode: t.exitCode,
        reason: t.reason,
        startedAt: t.startedAt.toISOString(),
        finishedAt: t.finishedAt.toISOString(),
        ...(t.signal ? { signal: 9 } : {}),
      },
    });
    const state = s.terminated
      ? terminatedState(s.terminated)
      : s.waiting
        ? { waiting: s.waiting }
        : started
          ? { running: { startedAt: (s.startedAt ?? new Date()).toISOString() } }
          : { waiting: { reason: 'ContainerCreating' } };
    for (let attempt = 0; attempt < 5; attempt++) {
      const current =
        attempt === 0
          ? pod
          : ((await this.ctx.kube.find('v1', 'Pod', pod.metadata!.namespace, pod.metadata!.name!)) as
              PodObject | undefined);
      if (!current || current.metadata?.uid !== pod.metadata?.uid) return;
      const prev = (current.status ?? {}) as Record<string, unknown>;
      const prevConditions = (prev.conditions ?? []) as {
        type: string;
        status: string;
        lastTransitionTime?: string;
      }[];
      const condition = (type: string, status: string) => {
        const old = prevConditions.find((c) => c.type === type);
        return { type, status, lastTransitionTime: old?.status === status ? old.lastTransitionTime : now };
      };
      const conditions = s.conditions ?? [
        condition('PodScheduled', 'True'),
        condition('Initialized', 'True'),
        condition('ContainersReady', ready ? 'True' : 'False'),
        condition('Ready', ready ? 'True' : 'False'),
      ];
      const status: Record<string, unknown> = {
        ...prev,
        phase: s.phase,
        conditions,
        hostIP: this.ctx.network.plan.hostAddress,
        hostIPs: [{ ip: this.ctx.network.plan.hostAddress }],
        startTime: prev.startTime ?? now,
        containerStatuses: container
          ? [
              {
                name: container.name,
                image: container.image ?? '',
                imageID: container.image ? `local-cluster://${container.image}` : '',
                ready,
                started,
                restartCount: s.restarts ?? 0,
                state,
                ...(s.lastTerminated ? { lastState: terminatedState(s.lastTerminated) } : {}),
              },
            ]
          : [],
      };
      if (s.podIp) {
        status.podIP = s.podIp;
        status.podIPs = [{ ip: s.podIp }];
      }
      if (s.reason) status.reason = s.reason;
      if (s.message) status.message = s.message;
      try {
        await this.ctx.kube.replaceStatus({ ...current, apiVersion: 'v1', kind: 'Pod', status });
        return;
      } catch (err) {
        if (isApiError(err, 409)) continue;
        if (isApiError(err, 404)) return;
        throw err;
      }
    }
  }

  async stop(): Promise<void> {
    this.watch?.stop();
    await Promise.all(
      [...this.pods.values()].map(async (p) => {
        p.stopping = true;
        if (p.retryTimer) clearTimeout(p.retryTimer);
        for (const probe of p.probes.splice(0)) probe.stop();
        await p.process?.stop(3000);
      }),
    );
    this.pods.clear();
  }
}
