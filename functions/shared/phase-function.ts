// The shape of every phase function: find the import an event is about, re-read it, check that
// it is in a phase the function owns (events/routing.ts ROUTING[name].phases), let the phase
// step decide (pure where possible), then write status — with the overall progress computed here,
// once — with optimistic concurrency and record a condition, a Kubernetes Event and a log line.
// A 409 means a newer event is coming.
import { IMPORT_ANNOTATION } from './labels.ts';
import type { CloudEvent } from 'cloudevents';
import type { Context } from 'faas-js-runtime';
import type { FunctionHandler } from './function-handler.ts';
import {
  API_VERSION,
  ImportStatus,
  KINDS,
  VirtualMachineImport,
  type VirtualMachineImportStatus,
} from './api/index.ts';
import { setCondition, setConditionLast, type ConditionInput } from './condition-list.ts';
import { Kube, isConflict, isNotFound, type Obj } from './kube/client.ts';
import { recordEvent, type EventInput } from './kube/events.ts';
import { createLogger, type Logger } from './log.ts';
import { restoreSourcePower } from './source-power-on.ts';
import { freeExport } from './scratch.ts';
import type { SourcePowerRecord } from './source-power.ts';
import { overallProgress } from './progress.ts';
import {
  ROUTING,
  phaseGuardPasses,
  phaseMoveAllowed,
  type FunctionName,
  type PhaseMove,
} from '../../events/routing.ts';

/** Keeps a deleted import until the cleanup function has removed what it created. */
export const IMPORT_FINALIZER = 'migration.harvesterhci.io/vm-import';
/** The finalizer upstream's controller puts on imports (removed by cleanup when migrating from it). */
export const UPSTREAM_FINALIZER = 'wrangler.cattle.io/virtualmachine-import-controller';

export interface ImportStepContext {
  kube: Kube;
  log: Logger;
  now: Date;
  import: VirtualMachineImport;
  /** The object the event carried (the import itself, a Job, an image, a VM). */
  eventObject: Obj;
  eventType: string;
}

export type StepOutcome =
  | { action: 'ignore' }
  | { action: 'wait'; why: string }
  | {
      action: 'update';
      status: VirtualMachineImportStatus;
      condition?: ConditionInput;
      event?: EventInput;
    };

export type ImportStep = (ctx: ImportStepContext) => Promise<StepOutcome>;

/** Namespace and name of the import an event's object belongs to, if any. */
export function importRefOf(object: Obj): { namespace: string; name: string } | undefined {
  const meta = object.metadata;
  if (!meta?.name) return undefined;
  const namespace = meta.namespace ?? 'default';
  if (object.kind === 'VirtualMachineImport' && object.apiVersion === API_VERSION)
    return { namespace, name: meta.name };
  const owner = meta.ownerReferences?.find(
    (o) => o.kind === 'VirtualMachineImport' && o.apiVersion === API_VERSION,
  );
  if (owner) return { namespace, name: owner.name };
  const annotated = meta.annotations?.[IMPORT_ANNOTATION];
  return annotated ? { namespace, name: annotated } : undefined;
}

export interface HandlerDeps {
  kube?: Kube;
  log?: Logger;
  now?: () => Date;
  /** Add IMPORT_FINALIZER before the step (the first phase function does). */
  ensureFinalizer?: boolean;
  /** The phases the step moves between; default: the function's ROUTING entry. */
  phases?: PhaseMove;
}

export function phaseFunction(name: string, step: ImportStep, deps: HandlerDeps = {}): FunctionHandler {
  const log = deps.log ?? createLogger({ function: name });
  const move = deps.phases ?? (ROUTING[name as FunctionName] as { phases?: PhaseMove } | undefined)?.phases;
  if (!move) throw new Error(`ROUTING.${name} declares no phases: it is not an import phase function`);
  let kube = deps.kube;
  return async function handle(_context: Context, event?: CloudEvent<unknown>) {
    const object = event?.data as Obj | undefined;
    const ref = object && importRefOf(object);
    if (!event || !ref) return;
    kube ??= new Kube();
    const stepLog = log.child({
      namespace: ref.namespace,
      import: ref.name,
      event: event.type,
      eventId: event.id,
    });

    let current: Obj;
    try {
      current = await kube.get(API_VERSION, 'VirtualMachineImport', ref.namespace, ref.name);
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
    const finalizers = current.metadata?.finalizers ?? [];
    if (
      deps.ensureFinalizer &&
      !current.metadata?.deletionTimestamp &&
      !finalizers.includes(IMPORT_FINALIZER)
    ) {
      try {
        // The resourceVersion makes this merge patch conditional: a concurrent writer gets us a 409.
        current = await kube.mergePatch({
          apiVersion: API_VERSION,
          kind: 'VirtualMachineImport',
          metadata: {
            name: ref.name,
            namespace: ref.namespace,
            resourceVersion: current.metadata?.resourceVersion,
            finalizers: [...finalizers, IMPORT_FINALIZER],
          },
        });
      } catch (e) {
        if (isConflict(e)) return;
        throw e;
      }
    }
    const parsed = VirtualMachineImport.safeParse(current);
    if (!parsed.success) {
      stepLog.error('import does not match the API schema', { error: parsed.error.message });
      return;
    }
    const phase = parsed.data.status?.importStatus ?? '';
    if (!phaseGuardPasses(move, phase, !!parsed.data.metadata.deletionTimestamp)) return;
    const now = deps.now?.() ?? new Date();
    const outcome = await step({
      kube,
      log: stepLog,
      now,
      import: parsed.data,
      eventObject: object,
      eventType: event.type,
    });
    if (outcome.action === 'ignore') return;
    if (outcome.action === 'wait') {
      stepLog.debug('waiting', { why: outcome.why, phase: parsed.data.status?.importStatus ?? '' });
      return;
    }
    const to = outcome.status.importStatus ?? '';
    if (!phaseMoveAllowed(move, phase, to)) {
      stepLog.error('step wants a phase move its ROUTING entry does not declare; not written', {
        from: phase,
        to,
      });
      return;
    }
    // The function that fails an import powers its source back on (if the import powered it off).
    const failing =
      outcome.status.importStatus === ImportStatus.Failed &&
      parsed.data.status?.importStatus !== ImportStatus.Failed;
    const power = failing
      ? await restoreSourcePower(kube, { ...parsed.data, status: outcome.status }, stepLog, 'failed', true)
      : undefined;
    // A failed import keeps nothing but itself: the export Job, the disk server, the scratch
    // volume and the source VM description go now, before the terminal status (a failure to
    // delete is retried with the delivery; no event comes after a terminal status).
    if (failing) await freeExport(kube, parsed.data);
    await writeImportStatus(kube, stepLog, current, outcome, now, power);
  };
}

async function writeImportStatus(
  kube: Kube,
  log: Logger,
  current: Obj,
  outcome: Extract<StepOutcome, { action: 'update' }>,
  now: Date,
  power?: SourcePowerRecord,
): Promise<void> {
  const status: VirtualMachineImportStatus = {
    ...outcome.status,
    observedGeneration: current.metadata?.generation ?? outcome.status.observedGeneration ?? null,
  };
  // Before the step's own condition, so that the failure stays the last word: moved to the end,
  // since the condition it updates (e.g. DisksExported) was written earlier, above the new one.
  if (power) status.importConditions = setCondition(status.importConditions, power.condition, now);
  if (outcome.condition)
    status.importConditions = (power ? setConditionLast : setCondition)(
      status.importConditions,
      outcome.condition,
      now,
    );
  status.progress = overallProgress(status);
  const from = (current.status as VirtualMachineImportStatus | undefined)?.importStatus ?? '';
  try {
    await kube.replaceStatus({ ...current, status }, KINDS.VirtualMachineImport.plural);
  } catch (e) {
    if (isConflict(e)) {
      log.info('status changed meanwhile; dropping this step, a newer event follows', { phase: from });
      return;
    }
    throw e;
  }
  const fields = {
    from,
    to: status.importStatus ?? '',
    reason: outcome.condition?.reason,
    message: outcome.condition?.message,
  };
  if (outcome.event?.type === 'Warning') log.warn('step', fields);
  else log.info('step', fields);
  for (const event of [outcome.event, power?.event])
    if (event)
      await recordEvent(kube, current, event, now).catch((e) =>
        log.warn('could not record the Kubernetes Event', { error: e }),
      );
  if (power)
    log[power.event.type === 'Warning' ? 'warn' : 'info']('source power', {
      reason: power.condition.reason,
      message: power.condition.message,
    });
}
