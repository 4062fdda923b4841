// sourceReady → disksExported | VMMigrationFailed. Receives import updates (the export Job writes
// its facts into the import's status) and Job events (a Job that crashed past its backoff limit
// or hit its deadline cannot write them).
import type { VirtualMachineImport } from '../shared/api/index.ts';
import { phaseFunction, type ImportStepContext, type StepOutcome } from '../shared/phase-function.ts';
import type { Obj } from '../shared/kube/client.ts';
import { importObjectNames } from '../shared/import-objects.ts';
import { jobFinished } from '../shared/kube/job.ts';
import { decideExportStatus, type FinishedJob } from './decide.ts';

const ownedBy = (o: Obj, vmImport: VirtualMachineImport) =>
  !!o.metadata?.ownerReferences?.some((r) => r.uid === vmImport.metadata.uid);

export async function exportStatusStep({
  kube,
  import: vmImport,
  eventObject,
}: ImportStepContext): Promise<StepOutcome> {
  const status = vmImport.status ?? {};
  const namespace = vmImport.metadata.namespace ?? 'default';
  const name = importObjectNames(vmImport.metadata.name!).exportJob;
  const fromEvent =
    eventObject.kind === 'Job' && eventObject.metadata?.name === name ? eventObject : undefined;
  // The fresh Job when it still exists; the event's copy when it was just deleted.
  const job = (await kube.find<Obj>('batch/v1', 'Job', namespace, name)) ?? fromEvent;
  const finished = job && ownedBy(job, vmImport) ? jobFinished(job) : undefined;
  const finishedJob: FinishedJob | undefined = finished ? { namespace, name, ...finished } : undefined;
  return decideExportStatus(status, finishedJob);
}

export const handle = phaseFunction('export-status', exportStatusStep);
