// sourceReady: creates the scratch PVC, the credentials the Job mounts and the export Job. The Job
// (functions/export/job/main.ts) powers the source VM off and exports the disks; export-status
// moves the import on from what the Job reports.
import type { ConditionReason } from '../shared/condition-reasons.ts';
import {
  API_VERSION,
  ImportConditionType,
  sourceKindOf,
  type VirtualMachineImport,
} from '../shared/api/index.ts';
import { conditionUnchanged, type ConditionInput } from '../shared/condition-list.ts';
import type { CloudEvent } from 'cloudevents';
import type { Context } from 'faas-js-runtime';
import type { FunctionHandler } from '../shared/function-handler.ts';
import { ApiServerSourceEventType } from '../../events/apiserver-source.ts';
import {
  phaseFunction,
  type HandlerDeps,
  type ImportStepContext,
  type StepOutcome,
} from '../shared/phase-function.ts';
import { Kube, type Obj } from '../shared/kube/client.ts';
import { createLogger } from '../shared/log.ts';
import { numberSetting, stringSetting, vmImportImage } from '../shared/settings.ts';
import type { Credentials } from '../shared/sources/adapter.ts';
import { adapterFor } from '../shared/sources/adapters.ts';
import { formatBytes, type ScratchSize } from '../shared/sources/scratch-size.ts';
import { credentialsRefOf, readSecretData } from '../shared/sources/source-target.ts';
import { SourceError } from '../shared/sources/source-error.ts';
import { checkImportMayUse } from '../shared/sources/tenancy.ts';
import {
  buildExportJob,
  buildScratchPvc,
  exportJobName,
  exportSourceLabelValue,
  scratchPvcName,
  type SourceIdentity,
} from './job-spec.ts';
import { ensureExporterAccess } from './exporter-access.ts';
import { isAdmitted, readSourceQueue, waitsForExport, wakeQueuedExports } from './queue.ts';

const ownedBy = (o: Obj, vmImport: VirtualMachineImport) =>
  !!o.metadata?.ownerReferences?.some((r) => r.uid === vmImport.metadata.uid);

export async function exportStep(ctx: ImportStepContext): Promise<StepOutcome> {
  const { kube, import: vmImport, log } = ctx;
  if (!waitsForExport(vmImport)) return { action: 'ignore' };
  const status = vmImport.status ?? {};
  const conditions = status.importConditions;
  const name = vmImport.metadata.name!;
  const namespace = vmImport.metadata.namespace ?? 'default';

  const jobName = exportJobName(name);
  const existing = await kube.find<Obj>('batch/v1', 'Job', namespace, jobName);
  if (existing) {
    if (ownedBy(existing, vmImport)) return { action: 'ignore' };
    return { action: 'wait', why: `Job ${jobName} of an earlier import of that name is still being deleted` };
  }

  // Facts the function cannot fix by itself: record them on the condition, resync retries.
  const waitWith = (reason: ConditionReason, message: string): StepOutcome => {
    const condition: ConditionInput = {
      type: ImportConditionType.DisksExported,
      status: 'Unknown',
      reason,
      message,
    };
    if (conditionUnchanged(conditions, condition)) return { action: 'wait', why: message };
    return { action: 'update', status, condition, event: { type: 'Warning', reason, message } };
  };
  // The source client says the export cannot work: the same fact the Job would record, so that
  // export-status ends the import with this message.
  const failWith = (reason: ConditionReason, message: string): StepOutcome => ({
    action: 'update',
    status,
    condition: { type: ImportConditionType.ExportFailed, status: 'True', reason, message },
    event: { type: 'Warning', reason, message },
  });

  const kind = sourceKindOf(vmImport.spec.sourceCluster?.kind);
  const ref = vmImport.spec.sourceCluster;
  const sourceNamespace = ref?.namespace || namespace;
  const source =
    kind && ref?.name ? await kube.find<Obj>(API_VERSION, kind, sourceNamespace, ref.name) : undefined;
  if (!kind || !source)
    return waitWith(
      'SourceNotFound',
      `${ref?.kind ?? 'source'} ${sourceNamespace}/${ref?.name ?? ''} does not exist; recreate it or delete this import`,
    );
  const identity: SourceIdentity = { kind, namespace: sourceNamespace, name: ref!.name! };

  const cap = exportJobsPerSource();
  const queue = await readSourceQueue(kube, exportSourceLabelValue(identity));
  const me = {
    namespace,
    name,
    creationTimestamp: String(vmImport.metadata.creationTimestamp ?? ''),
  };
  // This import is in the queue it just read unless the list lagged behind its creation.
  const waiting = queue.waiting.some((i) => i.namespace === namespace && i.name === name)
    ? queue.waiting
    : [...queue.waiting, me];
  if (!isAdmitted(waiting, queue.running, cap, me))
    return waitWith(
      'ExportQueued',
      `queued: EXPORT_JOBS_PER_SOURCE=${cap} export Jobs already run against ${kind} ${sourceNamespace}/${identity.name}; queued exports start oldest first as those finish`,
    );

  // The source may have changed since preflight (annotation removed, credentials re-pointed).
  try {
    checkImportMayUse(source, namespace);
  } catch (e) {
    if (e instanceof SourceError) return failWith(e.reason, e.message);
    throw e;
  }
  let credentials: Credentials | undefined;
  let mountSecret: string | undefined;
  try {
    const secretRef = credentialsRefOf(source);
    credentials = await readSecretData(kube, secretRef, sourceNamespace);
    // Same namespace as the import (tenancy): the Job mounts the Secret itself, never a copy.
    if (credentials && secretRef?.name) mountSecret = secretRef.name;
  } catch (e) {
    if (e instanceof SourceError) return waitWith(e.reason, e.message);
    throw e;
  }

  const adapter = await adapterFor(kind);
  const pvcName = scratchPvcName(name);
  let scratch: ScratchSize | undefined;
  const pvc = await kube.find<Obj>('v1', 'PersistentVolumeClaim', namespace, pvcName);
  if (!pvc) {
    const sizing = {
      factor: numberSetting('SCRATCH_SIZE_FACTOR', process.env, 1),
      minGiB: numberSetting('SCRATCH_MIN_GIB'),
    };
    try {
      scratch = await adapter.scratchSize(
        { kind, source, vmImport, ...(credentials ? { credentials } : {}) },
        sizing,
      );
    } catch (e) {
      if (!(e instanceof SourceError)) throw e;
      return e.retryable ? waitWith(e.reason, e.message) : failWith(e.reason, e.message);
    }
    await kube.ensure(buildScratchPvc(vmImport, scratch.gib, stringSetting('SCRATCH_STORAGE_CLASS')));
  }

  await ensureExporterAccess(kube, namespace, sourceNamespace);
  const job = buildExportJob(vmImport, {
    image: vmImportImage(),
    source: identity,
    ...(mountSecret ? { credentialsSecret: mountSecret } : {}),
    deadlineSeconds: numberSetting('EXPORT_JOB_DEADLINE_SECONDS', process.env, 60),
    env: process.env,
  });
  const { created } = await kube.ensure(job);
  if (!created) return { action: 'ignore' };

  const volume = scratch
    ? `scratch volume ${pvcName} of ${scratch.gib} GiB (${scratch.basis} = ${formatBytes(scratch.basisBytes)}, x SCRATCH_SIZE_FACTOR ${numberSetting('SCRATCH_SIZE_FACTOR', process.env, 1)} + SCRATCH_MIN_GIB ${numberSetting('SCRATCH_MIN_GIB')} GiB)`
    : `existing scratch volume ${pvcName}`;
  const message = `export Job ${jobName} created with ${volume}; it powers off ${adapter.hasPower ? `the source VM ${vmImport.spec.virtualMachineName ?? ''}` : `nothing (${adapter.label})`} and exports the disks`;
  log.info('export job created', { job: jobName, pvc: pvcName, scratchGiB: scratch?.gib });
  return {
    action: 'update',
    status,
    condition: {
      type: ImportConditionType.DisksExported,
      status: 'Unknown',
      reason: 'ExportJobCreated',
      message,
    },
    event: { type: 'Normal', reason: 'ExportJobCreated', message },
  };
}

const exportJobsPerSource = () => Math.floor(numberSetting('EXPORT_JOBS_PER_SOURCE', process.env, 1));

/**
 * Import events run the export step; export Job events (finished or deleted) wake the imports
 * queued behind EXPORT_JOBS_PER_SOURCE.
 */
export function createHandler(deps: HandlerDeps = {}): FunctionHandler {
  const log = deps.log ?? createLogger({ function: 'export' });
  const importHandler = phaseFunction('export', exportStep, { ...deps, log });
  let kube = deps.kube;
  return async function handle(context: Context, event?: CloudEvent<unknown>) {
    const object = event?.data as Obj | undefined;
    if (object?.kind !== 'Job') return importHandler(context, event);
    kube ??= new Kube();
    const deleted = event!.type === ApiServerSourceEventType.Delete;
    await wakeQueuedExports(kube, log, object, deleted, exportJobsPerSource());
  };
}

export const handle = createHandler();
