// An import being deleted: removes everything an unfinished import created (VM, volumes, images,
// export Job, disk server, scratch) and keeps everything of a finished one; powers the source back
// on if the unfinished import had powered it off (source-power.ts). Then removes the finalizer
// (ours, and upstream's when moving from its controller).
import {
  API_VERSION,
  ImportStatus,
  isTerminalImport,
  type VirtualMachineImport,
} from '../shared/api/index.ts';
import { IMAGE_API_VERSION, IMAGE_KIND } from '../shared/harvester/virtual-machine-image.ts';
import {
  IMPORT_FINALIZER,
  UPSTREAM_FINALIZER,
  phaseFunction,
  type ImportStepContext,
  type StepOutcome,
} from '../shared/phase-function.ts';
import { importObjectNames, importUidSelector } from '../shared/import-objects.ts';
import type { Kube, Obj } from '../shared/kube/client.ts';
import { recordEvent } from '../shared/kube/events.ts';
import { freeScratch } from '../shared/scratch.ts';
import { restoreSourcePower } from '../shared/source-power-on.ts';
import { sourcePowerDecision } from '../shared/source-power.ts';

/**
 * One deletion stage of an unfinished import per invocation, in the order Harvester allows:
 * the VM, then its volumes, then the images (Harvester refuses to delete an image while any
 * volume of its StorageClass exists, terminating ones included: pkg/image/common/validator.go
 * PVCOccupation, 422), then the scratch space and the source description. A stage whose objects
 * still exist deletes them (once) and reports `waiting`; the VM's deletion event or the resync
 * tick brings cleanup back for the next stage.
 */
export async function removeCreated(
  kube: Kube,
  vmImport: VirtualMachineImport,
): Promise<{ done: true } | { waiting: string }> {
  const namespace = vmImport.metadata.namespace ?? 'default';
  const selector = importUidSelector(vmImport);
  const stages: [string, string, string][] = [
    ['kubevirt.io/v1', 'VirtualMachine', 'VirtualMachine(s)'],
    ['v1', 'PersistentVolumeClaim', 'volume(s)'],
    [IMAGE_API_VERSION, IMAGE_KIND, 'image(s)'],
  ];
  for (const [apiVersion, kind, what] of stages) {
    const objects = await kube.list<Obj>(apiVersion, kind, namespace, selector);
    if (!objects.length) continue;
    // Items of a core list carry no apiVersion/kind.
    for (const o of objects.filter((x) => !x.metadata?.deletionTimestamp))
      await kube.delete({ apiVersion, kind, metadata: { name: o.metadata!.name, namespace } });
    return { waiting: `${objects.length} ${what} being deleted` };
  }
  await freeScratch(kube, vmImport);
  await kube.delete({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: importObjectNames(vmImport.metadata.name!).sourceVm, namespace },
  });
  return { done: true };
}

export async function cleanupStep({ kube, log, import: vmImport }: ImportStepContext): Promise<StepOutcome> {
  const finalizers = vmImport.metadata.finalizers ?? [];
  const ours = [IMPORT_FINALIZER, UPSTREAM_FINALIZER];
  if (!finalizers.some((f) => ours.includes(f))) return { action: 'ignore' };
  // Finished: running, or created stopped as the spec asked (terminal).
  const finished =
    vmImport.status?.importStatus === ImportStatus.VirtualMachineRunning ||
    (vmImport.status?.importStatus === ImportStatus.VirtualMachineCreated &&
      isTerminalImport(vmImport.status));
  if (!finished) {
    const stage = await removeCreated(kube, vmImport);
    if ('waiting' in stage) return { action: 'wait', why: stage.waiting };
    // The source comes back on if this import powered it off, once the export Job is gone (a Job
    // still stopping could be powering it off); the finalizer stays until that is done. The Job's
    // deletion (routed here) or the next resync brings cleanup back.
    if (sourcePowerDecision(vmImport, vmImport.spec.virtualMachineName ?? '').action === 'powerOn') {
      const job = importObjectNames(vmImport.metadata.name!).exportJob;
      if (await kube.find('batch/v1', 'Job', vmImport.metadata.namespace ?? 'default', job))
        return {
          action: 'wait',
          why: `export Job ${job} is still stopping; the source is powered on after it`,
        };
    }
    const power = await restoreSourcePower(kube, vmImport, log, 'was deleted before its VM existed', false);
    // Recorded first; the status write brings cleanup back, which then removes the finalizer
    // (or, for a power-on to try again, the next resync does).
    if (power)
      return {
        action: 'update',
        status: vmImport.status ?? {},
        condition: power.condition,
        event: power.event,
      };
  }
  await kube.mergePatch({
    apiVersion: API_VERSION,
    kind: 'VirtualMachineImport',
    metadata: {
      name: vmImport.metadata.name,
      namespace: vmImport.metadata.namespace,
      resourceVersion: vmImport.metadata.resourceVersion,
      finalizers: finalizers.filter((f) => !ours.includes(f)),
    },
  });
  const message = finished
    ? 'import deleted; the imported VM, its volumes and images are kept'
    : 'import deleted before it finished; removed the VM, volumes and images it had created, and the scratch space';
  log.info('cleanup', { finished });
  await recordEvent(kube, vmImport as unknown as Obj, { type: 'Normal', reason: 'CleanedUp', message }).catch(
    () => undefined,
  );
  return { action: 'ignore' };
}

export const handle = phaseFunction('cleanup', cleanupStep);
