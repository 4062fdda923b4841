// virtualMachineCreated → virtualMachineRunning once KubeVirt reports the VM ready; with
// spec.startVirtualMachine: false, virtualMachineCreated + VirtualMachineStarted=False/CreatedStopped
// (terminal) once KubeVirt reports the VM Stopped. Then the images are released from the import
// (owner references removed) so they outlive it, and the leftovers of the export are removed.
import {
  CREATED_STOPPED_REASON,
  ImportStatus,
  isTerminalImport,
  ImportConditionType,
} from '../shared/api/index.ts';
import { conditionUnchanged, type ConditionInput } from '../shared/condition-list.ts';
import { phaseFunction, type ImportStepContext, type StepOutcome } from '../shared/phase-function.ts';
import { importObjectNames } from '../shared/import-objects.ts';
import type { Obj } from '../shared/kube/client.ts';
import { freeScratch } from '../shared/scratch.ts';
import { imagesByDisk } from '../shared/disk-server/images.ts';

/** Why a VM is not running yet, from KubeVirt's status (for the condition message). */
export function notReadyReason(vm: Obj): string {
  const status = (vm.status ?? {}) as {
    printableStatus?: string;
    conditions?: { type: string; status: string; message?: string; reason?: string }[];
  };
  const failing = status.conditions?.find((c) => c.status === 'False' && c.message);
  return (
    [status.printableStatus, failing?.message].filter(Boolean).join(': ') ||
    'waiting for KubeVirt to start it'
  );
}

export async function vmStatusStep({ kube, import: vmImport }: ImportStepContext): Promise<StepOutcome> {
  const status = vmImport.status ?? {};
  // Created stopped on purpose: nothing will run.
  if (isTerminalImport(status)) return { action: 'ignore' };
  const stopped = vmImport.spec.startVirtualMachine === false;
  const namespace = vmImport.metadata.namespace ?? 'default';
  const vmName = status.importedVirtualMachineName!;
  const vm = await kube.find<Obj>('kubevirt.io/v1', 'VirtualMachine', namespace, vmName);
  if (!vm) {
    const message = `VirtualMachine ${vmName} was deleted before it ran`;
    return {
      action: 'update',
      status: { ...status, importStatus: ImportStatus.Failed },
      condition: {
        type: ImportConditionType.VirtualMachineRunning,
        status: 'False',
        reason: 'VirtualMachineDeleted',
        message,
      },
      event: { type: 'Warning', reason: 'VirtualMachineDeleted', message },
    };
  }
  const vmStatus = vm.status as { ready?: boolean; printableStatus?: string } | undefined;
  // A VM created stopped is done once KubeVirt has seen it and reports it Stopped.
  if (stopped ? vmStatus?.printableStatus !== 'Stopped' : !vmStatus?.ready) {
    const condition: ConditionInput = {
      type: ImportConditionType.VirtualMachineRunning,
      status: 'Unknown',
      reason: 'Starting',
      message: notReadyReason(vm),
    };
    if (conditionUnchanged(status.importConditions, condition))
      return { action: 'wait', why: condition.message };
    return { action: 'update', status, condition };
  }
  for (const image of (await imagesByDisk(kube, vmImport)).values()) {
    const owners = image.metadata?.ownerReferences ?? [];
    const kept = owners.filter((o) => o.uid !== vmImport.metadata.uid);
    // A merge patch of the owners alone: Harvester's controller writes the image at any moment,
    // and a replace of the copy read here would fail with 409 (Knative then retries the delivery).
    if (kept.length !== owners.length)
      await kube.mergePatch({
        apiVersion: image.apiVersion,
        kind: image.kind,
        metadata: { name: image.metadata!.name, namespace: image.metadata!.namespace, ownerReferences: kept },
      });
  }
  await freeScratch(kube, vmImport);
  await kube.delete({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: importObjectNames(vmImport.metadata.name!).sourceVm, namespace },
  });
  if (stopped) {
    const message = `VirtualMachine ${vmName} was created stopped, as spec.startVirtualMachine is false; start it with virtctl start ${vmName} or from the Harvester UI`;
    return {
      action: 'update',
      status,
      condition: {
        type: ImportConditionType.VirtualMachineStarted,
        status: 'False',
        reason: CREATED_STOPPED_REASON,
        message,
      },
      event: { type: 'Normal', reason: CREATED_STOPPED_REASON, message },
    };
  }
  const message = `VirtualMachine ${vmName} is running`;
  return {
    action: 'update',
    status: { ...status, importStatus: ImportStatus.VirtualMachineRunning },
    condition: {
      type: ImportConditionType.VirtualMachineRunning,
      status: 'True',
      reason: 'Running',
      message,
    },
    event: { type: 'Normal', reason: 'Running', message },
  };
}

export const handle = phaseFunction('vm-status', vmStatusStep);
