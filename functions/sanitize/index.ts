// virtualMachineImportValid → sourceReady: picks the name of the KubeVirt VM (spec.targetName, or
// the source VM's name sanitised to RFC 1123, unique among VMs and other imports' targets).
import type { ConditionReason } from '../shared/condition-reasons.ts';
import { API_VERSION, ImportStatus, sourceKindOf, ImportConditionType } from '../shared/api/index.ts';
import { conditionUnchanged, type ConditionInput } from '../shared/condition-list.ts';
import { phaseFunction, type ImportStepContext, type StepOutcome } from '../shared/phase-function.ts';
import { NoFreeNameError } from '../shared/naming.ts';
import { chooseVmName } from '../shared/vm-name.ts';
import { adapterFor } from '../shared/sources/adapters.ts';
import { verdictOfError } from '../shared/sources/source-error.ts';
import { sourceTargetOf } from '../shared/sources/source-target.ts';

export async function sanitizeStep({ kube, import: vmImport }: ImportStepContext): Promise<StepOutcome> {
  const status = vmImport.status ?? {};
  const namespace = vmImport.metadata.namespace ?? 'default';
  const fail = (reason: ConditionReason, message: string): StepOutcome => ({
    action: 'update',
    status: { ...status, importStatus: ImportStatus.Invalid },
    condition: { type: ImportConditionType.SourceReady, status: 'False', reason, message },
    event: { type: 'Warning', reason, message },
  });

  // A wait the user can see: SourceReady=Unknown with the reason, written once (not per event).
  const waiting = (reason: ConditionReason, message: string): StepOutcome => {
    const condition: ConditionInput = {
      type: ImportConditionType.SourceReady,
      status: 'Unknown',
      reason,
      message,
    };
    if (conditionUnchanged(status.importConditions, condition)) return { action: 'wait', why: message };
    return { action: 'update', status, condition, event: { type: 'Warning', reason, message } };
  };

  let name = vmImport.spec.targetName ?? '';
  if (!name) {
    const kind = sourceKindOf(vmImport.spec.sourceCluster?.kind);
    const ref = vmImport.spec.sourceCluster;
    const source =
      kind && ref?.name
        ? await kube.find(API_VERSION, kind, ref.namespace ?? namespace, ref.name)
        : undefined;
    if (!kind || !source)
      return waiting(
        'SourceNotFound',
        `${kind ?? 'source'} ${ref?.namespace ?? namespace}/${ref?.name ?? ''} was deleted after preflight; re-create it (the import goes on once it is clusterReady) or delete this import`,
      );
    let sourceName: string;
    try {
      sourceName = await (
        await adapterFor(kind)
      ).resolveVmName(await sourceTargetOf(kube, kind, source, vmImport));
    } catch (e) {
      const verdict = verdictOfError(e);
      if (verdict.verdict === 'wait') return waiting(verdict.reason, verdict.message);
      return fail(verdict.reason, verdict.message);
    }
    try {
      name = await chooseVmName(kube, vmImport, sourceName);
    } catch (e) {
      if (e instanceof NoFreeNameError) return fail('NoFreeName', e.message);
      throw e;
    }
  }
  const message =
    name === vmImport.spec.virtualMachineName
      ? `the VM will be created as ${name}`
      : `the VM will be created as ${name} (source name "${vmImport.spec.virtualMachineName ?? ''}")`;
  return {
    action: 'update',
    status: { ...status, importStatus: ImportStatus.SourceReady, importedVirtualMachineName: name },
    condition: { type: ImportConditionType.SourceReady, status: 'True', reason: 'NameAssigned', message },
    event: { type: 'Normal', reason: 'NameAssigned', message },
  };
}

export const handle = phaseFunction('sanitize', sanitizeStep);
