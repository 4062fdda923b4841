// The per-source export limit (EXPORT_JOBS_PER_SOURCE) as a first-come-first-served queue.
// Every export invocation computes the same order from the same Job list, so concurrent
// invocations (duplicate events, a burst of wake-ups) between them admit no more imports than
// there are free slots. When an export Job finishes or goes away, the export function wakes the
// imports now admitted (wakeQueuedExports) instead of leaving them to the next resync tick.
import { EXPORT_SOURCE_LABEL, EXPORT_WAKE_ANNOTATION } from '../shared/labels.ts';
import {
  API_VERSION,
  ImportConditionType,
  ImportStatus,
  KINDS,
  VirtualMachineImport,
  sourceKindOf,
} from '../shared/api/index.ts';
import { isTrue } from '../shared/condition-list.ts';
import { isNotFound, type Kube, type Obj } from '../shared/kube/client.ts';
import type { Logger } from '../shared/log.ts';
import { exportJobName, exportSourceLabelValue } from './job-spec.ts';
import { jobFinished } from '../shared/kube/job.ts';

export interface QueuedImport {
  namespace: string;
  name: string;
  creationTimestamp: string;
}

const key = (i: QueuedImport) => `${i.namespace}/${i.name}`;

/** Queue order: oldest first; ties (same second) by namespace/name. */
export function queueOrder(a: QueuedImport, b: QueuedImport): number {
  if (a.creationTimestamp !== b.creationTimestamp) return a.creationTimestamp < b.creationTimestamp ? -1 : 1;
  return key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;
}

/** The waiting imports that may start now: the oldest `cap - running`. */
export function admitted(waiting: QueuedImport[], running: number, cap: number): QueuedImport[] {
  return [...waiting].sort(queueOrder).slice(0, Math.max(0, cap - running));
}

export const isAdmitted = (waiting: QueuedImport[], running: number, cap: number, me: QueuedImport) =>
  admitted(waiting, running, cap).some((i) => key(i) === key(me));

/** The source an import exports from, as its Job's EXPORT_SOURCE_LABEL value. */
export function importSourceLabel(vmImport: VirtualMachineImport): string | undefined {
  const ref = vmImport.spec.sourceCluster;
  const kind = sourceKindOf(ref?.kind);
  if (!kind || !ref?.name) return undefined;
  return exportSourceLabelValue({
    kind,
    namespace: ref.namespace || vmImport.metadata.namespace || 'default',
    name: ref.name,
  });
}

/** An import that waits for an export slot: in sourceReady, export not started nor over. */
export function waitsForExport(vmImport: VirtualMachineImport): boolean {
  const status = vmImport.status ?? {};
  return (
    status.importStatus === ImportStatus.SourceReady &&
    !vmImport.metadata.deletionTimestamp &&
    !isTrue(status.importConditions, ImportConditionType.Exported) &&
    !isTrue(status.importConditions, ImportConditionType.ExportFailed)
  );
}

export interface SourceQueue {
  /** Export Jobs of the source that have not finished. */
  running: number;
  /** Imports of the source waiting for a slot (no export Job yet). */
  waiting: QueuedImport[];
}

/** Reads the queue of the source whose Jobs carry EXPORT_SOURCE_LABEL=`sourceLabel`. */
export async function readSourceQueue(kube: Kube, sourceLabel: string): Promise<SourceQueue> {
  const jobs = await kube.list<Obj>('batch/v1', 'Job', undefined, `${EXPORT_SOURCE_LABEL}=${sourceLabel}`);
  const withJob = new Set(jobs.map((j) => `${j.metadata?.namespace}/${j.metadata?.name}`));
  const imports = (await kube.list<Obj>(API_VERSION, KINDS.VirtualMachineImport.kind)).flatMap((o) => {
    const parsed = VirtualMachineImport.safeParse(o);
    return parsed.success ? [parsed.data] : [];
  });
  const waiting = imports
    .filter(
      (vmImport) =>
        waitsForExport(vmImport) &&
        importSourceLabel(vmImport) === sourceLabel &&
        !withJob.has(`${vmImport.metadata.namespace}/${exportJobName(vmImport.metadata.name!)}`),
    )
    .map((vmImport) => ({
      namespace: vmImport.metadata.namespace ?? 'default',
      name: vmImport.metadata.name!,
      creationTimestamp: String(vmImport.metadata.creationTimestamp ?? ''),
    }));
  return { running: jobs.filter((j) => !jobFinished(j)).length, waiting };
}

/**
 * A Job event for an export Job that finished or was deleted: touches the queued imports of its
 * source that now fit under the limit, so that export starts them within one event hop. The
 * annotation carries the Job's uid: a duplicate event patches the same value (no new event).
 */
export async function wakeQueuedExports(
  kube: Kube,
  log: Logger,
  job: Obj,
  deleted: boolean,
  cap: number,
): Promise<number> {
  const sourceLabel = job.metadata?.labels?.[EXPORT_SOURCE_LABEL];
  if (!sourceLabel || (!deleted && !jobFinished(job))) return 0;
  const queue = await readSourceQueue(kube, sourceLabel);
  let woken = 0;
  for (const next of admitted(queue.waiting, queue.running, cap)) {
    try {
      await kube.mergePatch({
        apiVersion: API_VERSION,
        kind: 'VirtualMachineImport',
        metadata: {
          name: next.name,
          namespace: next.namespace,
          annotations: { [EXPORT_WAKE_ANNOTATION]: job.metadata?.uid ?? job.metadata?.name ?? '' },
        },
      });
      woken++;
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }
  if (woken)
    log.info('export slot freed: queued imports woken', {
      job: `${job.metadata?.namespace}/${job.metadata?.name}`,
      woken,
      stillQueued: queue.waiting.length - woken,
    });
  return woken;
}
