// The Job controller (batch/v1): one Pod per attempt (labels job-name / controller-uid, owned
// by the Job), status from the pods' phases through the pure decideJob(), and the pods killed
// when the Job finishes by deadline or backoff limit, or is deleted.
import { randomBytes } from 'node:crypto';
import type { RuntimeContext } from '../context.ts';
import { KeyedQueue } from '../keyed-queue.ts';
import { isApiError, type KubeObject, type ListWatchHandle } from '../kube.ts';
import {
  decideJob,
  type JobSpecLike,
  type JobStatusLike,
  type PodPhase,
  type PodSummary,
} from './job-status.ts';

type JobObject = KubeObject & {
  spec?: JobSpecLike & { template?: { metadata?: Record<string, unknown>; spec?: Record<string, unknown> } };
  status?: JobStatusLike;
};

function podSummary(pod: KubeObject): PodSummary {
  const st = (pod.status ?? {}) as {
    phase?: PodPhase;
    containerStatuses?: { ready?: boolean; state?: { terminated?: { finishedAt?: string | Date } } }[];
  };
  const finished = st.containerStatuses?.[0]?.state?.terminated?.finishedAt;
  return {
    name: pod.metadata!.name!,
    phase: pod.metadata?.deletionTimestamp && st.phase !== 'Succeeded' ? 'Failed' : (st.phase ?? 'Pending'),
    ready: st.containerStatuses?.[0]?.ready ?? false,
    finishedAt: finished ? new Date(finished).toISOString() : undefined,
  };
}

export class JobController {
  private jobsWatch?: ListWatchHandle;
  private podsWatch?: ListWatchHandle;
  private readonly queue = new KeyedQueue(
    (key) => {
      const [ns, name] = key.split('/') as [string, string];
      return this.reconcile(ns, name);
    },
    (key, err) => {
      this.ctx.log('jobs', 'reconcile failed', { job: key, error: String(err) });
      setTimeout(() => this.queue.add(key), 1000);
    },
  );
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private stopped = false;

  constructor(private readonly ctx: RuntimeContext) {}

  async start(): Promise<void> {
    this.jobsWatch = this.ctx.kube.listWatch(
      { apiVersion: 'batch/v1', kind: 'Job', emitListed: true },
      (type, job) => {
        if (type === 'DELETED')
          this.onDeleted(job).catch((err: unknown) =>
            this.ctx.log('jobs', 'deleting the pods of a deleted Job failed', {
              job: `${job.metadata?.namespace}/${job.metadata?.name}`,
              error: err instanceof Error ? err.message : String(err),
            }),
          );
        else this.enqueue(job.metadata!.namespace ?? 'default', job.metadata!.name!);
      },
    );
    this.podsWatch = this.ctx.kube.listWatch(
      { apiVersion: 'v1', kind: 'Pod', labelSelector: 'job-name', emitListed: false },
      (_type, pod) => {
        const job = pod.metadata?.labels?.['job-name'];
        if (job) this.enqueue(pod.metadata!.namespace ?? 'default', job);
      },
    );
    await Promise.all([this.jobsWatch.ready, this.podsWatch.ready]);
  }

  /** Reconciles are serialised per Job and coalesced. */
  private enqueue(ns: string, name: string): void {
    this.queue.add(`${ns}/${name}`);
  }

  private async onDeleted(job: KubeObject): Promise<void> {
    const ns = job.metadata!.namespace ?? 'default';
    const t = this.timers.get(`${ns}/${job.metadata!.name}`);
    if (t) clearTimeout(t);
    // The API server garbage-collects the pods through their ownerReferences; deleting them
    // here as well covers an orphaning delete of a Job that was never meant to outlive its pods.
    const { items } = await this.ctx.kube.list('v1', 'Pod', ns, `controller-uid=${job.metadata!.uid}`);
    for (const pod of items) await this.ctx.kube.delete({ ...pod, apiVersion: 'v1', kind: 'Pod' });
  }

  private async reconcile(ns: string, name: string): Promise<void> {
    const job = (await this.ctx.kube.get('batch/v1', 'Job', name, ns)) as JobObject | undefined;
    if (!job || job.metadata?.deletionTimestamp) return;
    const uid = job.metadata!.uid!;
    const { items: pods } = await this.ctx.kube.list('v1', 'Pod', ns, `controller-uid=${uid}`);
    const decision = decideJob(
      job.spec ?? {},
      (job.status ?? {}) as JobStatusLike,
      pods.map(podSummary),
      new Date(),
      this.ctx.jobBackoffBaseMs,
    );
    for (const podName of decision.killPods) {
      const pod = pods.find((p) => p.metadata?.name === podName);
      if (pod) await this.ctx.kube.delete({ ...pod, apiVersion: 'v1', kind: 'Pod' });
    }
    for (let i = 0; i < decision.createPods; i++) await this.createPod(job);
    if (JSON.stringify(normalise(job.status)) !== JSON.stringify(normalise(decision.status))) {
      try {
        await this.ctx.kube.replaceStatus({
          ...job,
          apiVersion: 'batch/v1',
          kind: 'Job',
          status: decision.status as Record<string, unknown>,
        });
        if (decision.finished) {
          const cond = decision.status.conditions?.find((c) => c.status === 'True');
          this.ctx.log('jobs', 'job finished', {
            job: `${ns}/${name}`,
            condition: cond?.type,
            reason: cond?.reason,
          });
        }
      } catch (err) {
        if (isApiError(err, 409)) {
          this.enqueue(ns, name);
          return;
        }
        throw err;
      }
    }
    const key = `${ns}/${name}`;
    const t = this.timers.get(key);
    if (t) clearTimeout(t);
    if (decision.requeueAfterMs !== undefined && !decision.finished) {
      this.timers.set(
        key,
        setTimeout(() => this.enqueue(ns, name), Math.max(50, decision.requeueAfterMs + 20)),
      );
    }
  }

  private async createPod(job: JobObject): Promise<void> {
    const ns = job.metadata!.namespace ?? 'default';
    const name = job.metadata!.name!;
    const uid = job.metadata!.uid!;
    const template = job.spec?.template ?? {};
    const tmeta = (template.metadata ?? {}) as {
      labels?: Record<string, string>;
      annotations?: Record<string, string>;
    };
    const suffix = randomBytes(4).toString('hex').slice(0, 5);
    await this.ctx.kube.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: `${name}-${suffix}`,
        namespace: ns,
        labels: {
          ...tmeta.labels,
          'job-name': name,
          'batch.kubernetes.io/job-name': name,
          'controller-uid': uid,
          'batch.kubernetes.io/controller-uid': uid,
        },
        annotations: tmeta.annotations,
        ownerReferences: [
          { apiVersion: 'batch/v1', kind: 'Job', name, uid, controller: true, blockOwnerDeletion: true },
        ],
      },
      spec: template.spec as never,
    });
    this.ctx.log('jobs', 'pod created', { job: `${ns}/${name}`, pod: `${name}-${suffix}` });
  }

  stop(): void {
    this.stopped = true;
    this.queue.stop();
    this.jobsWatch?.stop();
    this.podsWatch?.stop();
    for (const t of this.timers.values()) clearTimeout(t);
  }
}

function normalise(s: JobStatusLike | undefined): unknown {
  return JSON.parse(JSON.stringify(s ?? {}, (_k, v: unknown) => (v instanceof Date ? v.toISOString() : v)));
}
