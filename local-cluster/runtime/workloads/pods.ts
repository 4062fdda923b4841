// The kubelet of the local cluster: runs every Pod's first container as a local process (see
// container-spec.ts for the translation), reports phase, podIP, container state and
// conditions in the Pod's status, restarts "Always" pods, and kills the process when the Pod
// is deleted (directly or by ownerReference garbage collection).
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { clusterProcessEnv, type RuntimeContext } from '../context.ts';
import { isApiError, type KubeObject, type ListWatchHandle } from '../kube.ts';
import {
  planContainerProcess,
  PodSpecError,
  type ConfigSources,
  type PodSpec,
  type Volume,
  type Container,
} from './container-spec.ts';
import { materialize, startLocalProcess, type ExitInfo, type LocalProcess } from './local-process.ts';
import { podKubeconfig } from './service-account.ts';
import type { VolumeClaims } from './volumes.ts';

interface RunningPod {
  uid: string;
  name: string;
  namespace: string;
  podIp: string;
  process?: LocalProcess;
  restarts: number;
  stopping: boolean;
  retryTimer?: NodeJS.Timeout;
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

/** A pod may name its log file (functions: "<function>.log"); otherwise pod-<ns>-<name>.log. */
export const LOG_NAME_ANNOTATION = 'local.vm-import.harvesterhci.io/log-name';

export function podLogFile(ctx: RuntimeContext, namespace: string, name: string, logName?: string): string {
  const safe = logName?.replace(/[^A-Za-z0-9_.-]/g, '_');
  return join(ctx.paths.logs, safe ? `${safe}.log` : `pod-${namespace}-${name}.log`);
}

interface HttpProbe {
  path?: string;
  port?: number | string;
}

/** The URL a container's httpGet readiness probe checks on the pod's address, if it has one. */
export function readinessProbeUrl(container: Container | undefined, podIp: string): string | undefined {
  const probe = (container as { readinessProbe?: { httpGet?: HttpProbe } } | undefined)?.readinessProbe
    ?.httpGet;
  if (!probe) return undefined;
  const ports = (container as { ports?: { name?: string; containerPort: number }[] }).ports ?? [];
  const port =
    typeof probe.port === 'number'
      ? probe.port
      : (ports.find((p) => p.name === probe.port)?.containerPort ??
        Number(probe.port ?? ports[0]?.containerPort ?? 8080));
  return `http://${podIp}:${port}${probe.path ?? '/'}`;
}

/** Polls the probe until it answers 2xx/3xx (→ true) or the process exits (→ false), like the kubelet. */
async function waitUntilServing(url: string, proc: LocalProcess): Promise<boolean> {
  let exited = false;
  void proc.exited.then(() => (exited = true));
  while (!exited) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      if (res.status >= 200 && res.status < 400) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

export class PodRunner {
  private readonly pods = new Map<string, RunningPod>();
  private watch?: ListWatchHandle;

  constructor(
    private readonly ctx: RuntimeContext,
    private readonly claims: VolumeClaims,
  ) {}

  async start(): Promise<void> {
    this.watch = this.ctx.kube.listWatch({ apiVersion: 'v1', kind: 'Pod', emitListed: true }, (type, obj) => {
      void this.onPod(type, obj as PodObject).catch((err: unknown) =>
        this.ctx.log('pods', 'pod handling failed', { pod: obj.metadata?.name, error: String(err) }),
      );
    });
    await this.watch.ready;
  }

  private async onPod(type: string, pod: PodObject): Promise<void> {
    const uid = pod.metadata?.uid ?? '';
    const known = this.pods.get(uid);
    if (type === 'DELETED' || pod.metadata?.deletionTimestamp) {
      if (known) await this.terminate(known, type !== 'DELETED' ? pod : undefined);
      else if (type !== 'DELETED' && pod.spec?.nodeName === this.ctx.nodeName)
        await this.confirmDeletion(pod);
      return;
    }
    if (known) return;
    // Only pods the scheduler bound to this node (as a kubelet watches spec.nodeName=<node>).
    if ((pod.spec as { nodeName?: string } | undefined)?.nodeName !== this.ctx.nodeName) return;
    const phase = (pod.status as { phase?: string } | undefined)?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') return;
    if (phase === 'Running') {
      // A pod left running by a previous runtime: its process is gone, like a node reboot.
      await this.writeStatus(pod, {
        phase: 'Failed',
        reason: 'NodeLost',
        message: 'the local runtime restarted',
      });
      return;
    }
    const entry: RunningPod = {
      uid,
      name: pod.metadata!.name!,
      namespace: pod.metadata!.namespace ?? 'default',
      podIp: this.ctx.network.allocatePodIp(),
      restarts: 0,
      stopping: false,
    };
    this.pods.set(uid, entry);
    await this.launch(entry, pod);
  }

  private async loadConfig(pod: PodObject): Promise<ConfigSources> {
    const refs = referencedConfig(pod.spec!);
    const ns = pod.metadata!.namespace ?? 'default';
    const sources: ConfigSources = { secrets: {}, configMaps: {} };
    for (const name of refs.secrets) {
      const s = await this.ctx.kube.get('v1', 'Secret', name, ns);
      sources.secrets[name] = s ? ((s as { data?: Record<string, string> }).data ?? {}) : undefined;
    }
    for (const name of refs.configMaps) {
      const c = await this.ctx.kube.get('v1', 'ConfigMap', name, ns);
      sources.configMaps[name] = c ? ((c as { data?: Record<string, string> }).data ?? {}) : undefined;
    }
    const wantsToken = pod.spec!.volumes?.some((v) =>
      v.projected?.sources.some((s) => s.serviceAccountToken),
    );
    if (wantsToken && this.ctx.requestServiceAccountToken)
      sources.serviceAccountToken = await this.ctx.requestServiceAccountToken(
        ns,
        pod.spec!.serviceAccountName || 'default',
        { name: pod.metadata!.name!, uid: pod.metadata!.uid! },
      );
    return sources;
  }

  private async launch(entry: RunningPod, pod: PodObject): Promise<void> {
    if (entry.stopping) return;
    const ns = entry.namespace;
    const spec = pod.spec!;
    let sources: ConfigSources;
    try {
      const waiting = await this.claims.claimsNotReady(ns, spec);
      if (waiting) {
        await this.writeStatus(pod, {
          phase: 'Pending',
          conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: waiting }],
        });
        entry.retryTimer = setTimeout(
          () => this.inBackground(entry, 'relaunch', () => this.relaunch(entry)),
          1000,
        );
        return;
      }
      sources = await this.loadConfig(pod);
      const kubeconfig = await podKubeconfig(this.ctx, ns, spec);
      const plan = planContainerProcess(
        spec,
        {
          name: entry.name,
          namespace: ns,
          uid: entry.uid,
          podIp: entry.podIp,
          serviceAccountName: spec.serviceAccountName ?? 'default',
          labels: (pod.metadata?.labels as Record<string, string>) ?? {},
          annotations: (pod.metadata?.annotations as Record<string, string>) ?? {},
        },
        sources,
        {
          pvcDir: (claim) => this.claims.volumeDir(ns, claim),
          podVolumeDir: (v) => join(this.ctx.paths.pods, ns, entry.name, 'volumes', v),
        },
        {
          nodeBinary: this.ctx.nodeBinary,
          nodeFlags: [],
          projectRoot: this.ctx.projectRoot,
          baseEnv: clusterProcessEnv(this.ctx, entry.podIp, kubeconfig),
        },
      );
      await materialize(plan);
      const logName = (pod.metadata?.annotations as Record<string, string> | undefined)?.[
        LOG_NAME_ANNOTATION
      ];
      entry.process = await startLocalProcess(plan, podLogFile(this.ctx, ns, entry.name, logName));
    } catch (err) {
      const reason = err instanceof PodSpecError ? err.reason : 'StartError';
      const message = err instanceof Error ? err.message : String(err);
      this.ctx.log('pods', 'pod cannot start', { pod: `${ns}/${entry.name}`, reason, message });
      if (err instanceof PodSpecError && err.reason === 'CreateContainerConfigError') {
        // Kubernetes keeps such a pod Pending and retries; a Secret may appear later.
        await this.writeStatus(pod, { phase: 'Pending', waiting: { reason, message } });
        entry.retryTimer = setTimeout(
          () => this.inBackground(entry, 'relaunch', () => this.relaunch(entry)),
          2000,
        );
        return;
      }
      await this.writeStatus(pod, { phase: 'Failed', reason, message, waiting: { reason, message } });
      this.forget(entry);
      return;
    }
    const proc = entry.process;
    this.ctx.log('pods', 'started', { pod: `${ns}/${entry.name}`, pid: proc.pid, podIp: entry.podIp });
    const probe = readinessProbeUrl(spec.containers?.[0], entry.podIp);
    const running = {
      phase: 'Running',
      podIp: entry.podIp,
      startedAt: proc.startedAt,
      restarts: entry.restarts,
    };
    await this.writeStatus(pod, { ...running, ready: !probe });
    void proc.exited.then((info) =>
      this.inBackground(entry, 'exit handling', () => this.onExit(entry, info)),
    );
    if (probe && (await waitUntilServing(probe, proc))) {
      const current = (await this.ctx.kube.get('v1', 'Pod', entry.name, ns)) as PodObject | undefined;
      if (current && current.metadata?.uid === entry.uid && entry.process === proc)
        await this.writeStatus(current, { ...running, ready: true });
    }
  }

  /**
   * Runs work no caller awaits (timers, exit handlers): an API server that is busy or already
   * stopped must cost a log line, never the whole runtime (an unhandled rejection ends the process).
   */
  private inBackground(entry: RunningPod, what: string, work: () => Promise<void>): void {
    work().catch((err: unknown) => {
      if (entry.stopping) return;
      this.ctx.log('pods', `${what} failed, retrying in 2 s`, {
        pod: `${entry.namespace}/${entry.name}`,
        error: err instanceof Error ? err.message : String(err),
      });
      // level-triggered: relaunch re-reads the pod and does whatever it needs now
      entry.retryTimer = setTimeout(
        () => this.inBackground(entry, 'relaunch', () => this.relaunch(entry)),
        2000,
      );
    });
  }

  private async relaunch(entry: RunningPod): Promise<void> {
    const pod = (await this.ctx.kube.get('v1', 'Pod', entry.name, entry.namespace)) as PodObject | undefined;
    if (!pod || pod.metadata?.uid !== entry.uid || pod.metadata?.deletionTimestamp) {
      this.forget(entry);
      return;
    }
    await this.launch(entry, pod);
  }

  private async onExit(entry: RunningPod, info: ExitInfo): Promise<void> {
    if (entry.stopping) return;
    const pod = (await this.ctx.kube.get('v1', 'Pod', entry.name, entry.namespace)) as PodObject | undefined;
    if (!pod || pod.metadata?.uid !== entry.uid) {
      this.forget(entry);
      return;
    }
    const policy = pod.spec?.restartPolicy ?? 'Always';
    const ok = info.exitCode === 0;
    if (policy === 'Always' || (policy === 'OnFailure' && !ok && !pod.metadata?.ownerReferences?.length)) {
      entry.restarts++;
      const delay = Math.min(10_000 * 2 ** (entry.restarts - 1), 300_000);
      await this.writeStatus(pod, {
        phase: 'Running',
        podIp: entry.podIp,
        waiting: { reason: 'CrashLoopBackOff', message: `back-off restarting failed container` },
        restarts: entry.restarts,
      });
      entry.retryTimer = setTimeout(
        () => this.inBackground(entry, 'relaunch', () => this.relaunch(entry)),
        delay,
      );
      return;
    }
    await this.writeStatus(pod, {
      phase: ok ? 'Succeeded' : 'Failed',
      podIp: entry.podIp,
      terminated: {
        exitCode: info.exitCode ?? (info.signal ? 128 + 9 : 1),
        reason: ok ? 'Completed' : 'Error',
        startedAt: entry.process?.startedAt ?? info.finishedAt,
        finishedAt: info.finishedAt,
        signal: info.signal,
      },
      restarts: entry.restarts,
    });
    this.forget(entry);
  }

  private forget(entry: RunningPod): void {
    if (entry.retryTimer) clearTimeout(entry.retryTimer);
    this.pods.delete(entry.uid);
    this.ctx.network.releasePodIp(entry.podIp);
  }

  private async terminate(entry: RunningPod, pod: PodObject | undefined): Promise<void> {
    if (entry.stopping) return;
    entry.stopping = true;
    if (entry.retryTimer) clearTimeout(entry.retryTimer);
    const grace = ((pod?.spec?.terminationGracePeriodSeconds as number | undefined) ?? 5) * 1000;
    if (entry.process) {
      const info = await entry.process.stop(Math.min(grace, 10_000));
      this.ctx.log('pods', 'killed', { pod: `${entry.namespace}/${entry.name}`, signal: info.signal });
    }
    this.forget(entry);
    await rm(join(this.ctx.paths.pods, entry.namespace, entry.name), { recursive: true, force: true });
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
      terminated?: {
        exitCode: number;
        reason: string;
        startedAt: Date;
        finishedAt: Date;
        signal: NodeJS.Signals | null;
      };
      conditions?: Record<string, string>[];
      /** Readiness (probe passed); default: ready as soon as it runs. */
      ready?: boolean;
    },
  ): Promise<void> {
    const now = new Date().toISOString();
    const container = pod.spec?.containers?.[0];
    const running = s.phase === 'Running' && !s.waiting && s.ready !== false;
    const state = s.terminated
      ? {
          terminated: {
            exitCode: s.terminated.exitCode,
            reason: s.terminated.reason,
            startedAt: s.terminated.startedAt.toISOString(),
            finishedAt: s.terminated.finishedAt.toISOString(),
            ...(s.terminated.signal ? { signal: 9 } : {}),
          },
        }
      : s.waiting
        ? { waiting: s.waiting }
        : running
          ? { running: { startedAt: (s.startedAt ?? new Date()).toISOString() } }
          : { waiting: { reason: 'ContainerCreating' } };
    const conditions = s.conditions ?? [
      { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
      { type: 'Initialized', status: 'True', lastTransitionTime: now },
      { type: 'ContainersReady', status: running ? 'True' : 'False', lastTransitionTime: now },
      { type: 'Ready', status: running ? 'True' : 'False', lastTransitionTime: now },
    ];
    for (let attempt = 0; attempt < 5; attempt++) {
      const current =
        attempt === 0
          ? pod
          : ((await this.ctx.kube.get('v1', 'Pod', pod.metadata!.name!, pod.metadata!.namespace)) as
              PodObject | undefined);
      if (!current || current.metadata?.uid !== pod.metadata?.uid) return;
      const prev = (current.status ?? {}) as Record<string, unknown>;
      const status: Record<string, unknown> = {
        ...prev,
        phase: s.phase,
        conditions,
        hostIP: '127.0.0.1',
        startTime: prev.startTime ?? now,
        containerStatuses: container
          ? [
              {
                name: container.name,
                image: container.image ?? '',
                imageID: '',
                ready: running,
                started: running,
                restartCount: s.restarts ?? 0,
                state,
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
        await p.process?.stop(3000);
      }),
    );
    this.pods.clear();
  }
}
