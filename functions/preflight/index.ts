// Phase "" → virtualMachineImportValid | virtualMachineImportInvalid (waits while the source is
// missing or not ready: resync brings the import back).
import { IMPORT_ANNOTATION } from '../shared/labels.ts';
import {
  API_VERSION,
  ImportStatus,
  KINDS,
  type SourceKind,
  type VirtualMachineImportStatus,
  ImportConditionType,
} from '../shared/api/index.ts';
import { conditionUnchanged, setCondition, type ConditionInput } from '../shared/condition-list.ts';
import { phaseFunction, type ImportStepContext, type StepOutcome } from '../shared/phase-function.ts';
import type { Obj } from '../shared/kube/client.ts';
import { adapterFor } from '../shared/sources/adapters.ts';
import { verdictOfError, type SourceVerdict } from '../shared/sources/source-error.ts';
import { sourceTargetOf } from '../shared/sources/source-target.ts';
import { checkImportMayUse } from '../shared/sources/tenancy.ts';
import { numberSetting } from '../shared/settings.ts';
import { GIB } from '../shared/sources/scratch-size.ts';
import { checkCapacity, type CapacityOutcome } from './capacity-check.ts';
import { preflightLookups, preflightVerdict, staticChecks } from './checks.ts';

export async function preflightStep({
  kube,
  import: vmImport,
  now,
}: ImportStepContext): Promise<StepOutcome> {
  const status = vmImport.status ?? {};
  const namespace = vmImport.metadata.namespace ?? 'default';
  const spec = vmImport.spec;

  const fixed = staticChecks(spec);
  let verdict;
  let capacity: ConditionInput | undefined;
  if (fixed.verdict === 'invalid') verdict = fixed;
  else {
    const ref = spec.sourceCluster!;
    const info = KINDS[fixed.kind];
    const source = await kube.find(API_VERSION, info.kind, ref.namespace ?? namespace, ref.name!);
    const networks = preflightLookups(spec, namespace).networks;
    const existingNetworks = new Set<string>();
    for (const key of networks) {
      const [ns, name] = key.split('/') as [string, string];
      if (await kube.find('k8s.cni.cncf.io/v1', 'NetworkAttachmentDefinition', ns, name))
        existingNetworks.add(key);
    }
    const storageClassExists = spec.storageClass
      ? !!(await kube.find('storage.k8s.io/v1', 'StorageClass', undefined, spec.storageClass))
      : true;
    const target = spec.targetName
      ? await kube.find<Obj>('kubevirt.io/v1', 'VirtualMachine', namespace, spec.targetName)
      : undefined;
    const targetNameTakenByOther =
      !!target && target.metadata?.annotations?.[IMPORT_ANNOTATION] !== vmImport.metadata.name;
    // Tenancy first: not skippable (skipPreflightChecks) and independent of the source's readiness.
    const tenancy = source ? tenancyVerdict(source as Obj, namespace) : undefined;
    verdict =
      tenancy ??
      preflightVerdict(spec, namespace, {
        source: source ? { status: (source.status as never) ?? null } : null,
        storageClassExists,
        existingNetworks,
        targetNameTakenByOther,
      });
    if (verdict.verdict === 'valid' && !spec.skipPreflightChecks && source) {
      verdict = await sourcePreflight(kube, fixed.kind, source, vmImport);
      // Space for the disks and the scratch, before the export Job powers the source off.
      if (verdict.verdict === 'valid') {
        const space = await spaceCheck(kube, fixed.kind, source, vmImport);
        if (space.verdict === 'noRoom' || space.verdict === 'wait' || space.verdict === 'invalid')
          verdict = space;
        else capacity = space.condition;
      }
    }
  }

  const next = (
    importStatus: VirtualMachineImportStatus['importStatus'],
    condition: ConditionInput,
  ): StepOutcome => ({
    action: 'update',
    status: {
      ...status,
      importStatus,
      ...(capacity ? { importConditions: setCondition(status.importConditions, capacity, now) } : {}),
    },
    condition,
    event: {
      type: condition.status === 'True' ? 'Normal' : 'Warning',
      reason: condition.reason,
      message: condition.message,
    },
  });
  switch (verdict.verdict) {
    case 'valid': {
      // Warnings (e.g. OpenStack ignores forcePowerOff) are the user's to see: in the condition
      // and as a Warning Event, not only in a log.
      const warnings = (verdict as { warnings?: string[] }).warnings ?? [];
      const outcome = next(ImportStatus.Valid, {
        type: ImportConditionType.Valid,
        status: 'True',
        reason: warnings.length ? 'PreflightPassedWithWarnings' : 'PreflightPassed',
        message: `the source is ready and the import spec is valid${warnings.length ? `; warning: ${warnings.join('; ')}` : ''}`,
      });
      if (warnings.length && outcome.action === 'update' && outcome.event)
        outcome.event = { ...outcome.event, type: 'Warning' };
      return outcome;
    }
    case 'noRoom':
    case 'invalid':
      return next(ImportStatus.Invalid, {
        type: ImportConditionType.Valid,
        status: 'False',
        ...verdict,
        reason: verdict.reason,
      });
    case 'wait': {
      const condition: ConditionInput = {
        type: ImportConditionType.Valid,
        status: 'Unknown',
        reason: verdict.reason,
        message: verdict.message,
      };
      if (conditionUnchanged(status.importConditions, condition))
        return { action: 'wait', why: verdict.message };
      return {
        action: 'update',
        status,
        condition,
        event: { type: 'Normal', reason: verdict.reason, message: verdict.message },
      };
    }
  }
}

/** README "Security": which sources an import may use; undefined when this one may. */
function tenancyVerdict(source: Obj, namespace: string): SourceVerdict | undefined {
  try {
    checkImportMayUse(source, namespace);
    return undefined;
  } catch (e) {
    return verdictOfError(e);
  }
}

/**
 * The space check: the disks' virtual sizes (adapter.describe; an OVA tells them only in its
 * export) and the scratch size (adapter.scratchSize) against the target and scratch classes.
 */
async function spaceCheck(
  kube: ImportStepContext['kube'],
  kind: SourceKind,
  source: Obj,
  vmImport: ImportStepContext['import'],
): Promise<CapacityOutcome | Exclude<SourceVerdict, { verdict: 'valid' }>> {
  try {
    const adapter = await adapterFor(kind);
    const target = await sourceTargetOf(kube, kind, source, vmImport);
    const vm = await adapter.describe(target);
    const scratch = await adapter.scratchSize(target, {
      factor: numberSetting('SCRATCH_SIZE_FACTOR', process.env, 1),
      minGiB: numberSetting('SCRATCH_MIN_GIB'),
    });
    return await checkCapacity(kube, vmImport, {
      ...(vm ? { diskBytes: vm.disks.map((d) => d.sizeBytes) } : {}),
      scratchBytes: scratch.gib * GIB,
    });
  } catch (e) {
    return verdictOfError(e);
  }
}

/** The source adapter's checks (upstream's per-source PreFlightChecks, with their bugs fixed) as a verdict. */
async function sourcePreflight(
  kube: ImportStepContext['kube'],
  kind: SourceKind,
  source: Obj,
  vmImport: ImportStepContext['import'],
): Promise<SourceVerdict> {
  try {
    const { warnings } = await (
      await adapterFor(kind)
    ).preflight(await sourceTargetOf(kube, kind, source, vmImport));
    return { verdict: 'valid', warnings };
  } catch (e) {
    return verdictOfError(e);
  }
}

export const handle = phaseFunction('preflight', preflightStep, { ensureFinalizer: true });
