// Powers the source back on through its adapter when sourcePowerDecision (source-power.ts) says
// so, and returns the condition and Event to record. Used by the function that fails an import
// (through the frame, phase-function.ts) and by cleanup for an import deleted before its VM.
import {
  API_VERSION,
  ImportConditionType,
  ImportStatus,
  sourceKindOf,
  type VirtualMachineImport,
} from './api/index.ts';
import type { Kube, Obj } from './kube/client.ts';
import type { Logger } from './log.ts';
import { adapterFor } from './sources/adapters.ts';
import { SourceError } from './sources/source-error.ts';
import { sourceTargetOf } from './sources/source-target.ts';
import {
  powerOnFailureRecord,
  powerOnRecord,
  sourcePowerDecision,
  type SourcePowerRecord,
} from './source-power.ts';

/** Phases in which an import has powered the source off for its own export, or imported it. */
const HOLDS_THE_SOURCE: readonly string[] = [
  ImportStatus.SourceReady,
  ImportStatus.DisksExported,
  ImportStatus.DiskImagesSubmitted,
  ImportStatus.DiskImagesReady,
  ImportStatus.DiskImagesFailed,
  ImportStatus.VirtualMachineCreated,
  ImportStatus.VirtualMachineRunning,
];

/**
 * Another live import of the same source VM that needs it off (it is exporting it, or imported
 * it: the source must not run next to its copy); `<namespace>/<name>` of the first found.
 */
async function otherImportOfTheSameVm(
  kube: Kube,
  vmImport: VirtualMachineImport,
  kind: string,
  sourceNamespace: string,
): Promise<string | undefined> {
  const ref = vmImport.spec.sourceCluster;
  const others = await kube.list<Obj>(API_VERSION, 'VirtualMachineImport');
  const same = others.find((o) => {
    const other = o as unknown as VirtualMachineImport;
    const r = other.spec?.sourceCluster;
    return (
      other.metadata?.uid !== vmImport.metadata.uid &&
      !other.metadata?.deletionTimestamp &&
      HOLDS_THE_SOURCE.includes(other.status?.importStatus ?? '') &&
      sourceKindOf(r?.kind) === kind &&
      (r?.namespace || other.metadata?.namespace || 'default') === sourceNamespace &&
      r?.name === ref?.name &&
      other.spec?.virtualMachineName === vmImport.spec.virtualMachineName &&
      (other.spec?.folder ?? '') === (vmImport.spec.folder ?? '')
    );
  });
  return same ? `${same.metadata?.namespace}/${same.metadata?.name}` : undefined;
}

/**
 * Runs the power-ons of one source VM one after the other in this process. The broker delivers an
 * update more than once, concurrently; without this, two deliveries both read "off" and both ask
 * the source to power on, and vCenter records the loser's PowerOnVM_Task as a failed task
 * (InvalidPowerState) in the VM's task list. Serialized, the later one reads "on" and asks nothing.
 * (Deliveries reaching two replicas of a function at once are not serialized by this.)
 */
const powerOnsInFlight = new Map<string, Promise<unknown>>();
async function oneAtATime<T>(key: string, run: () => Promise<T>): Promise<T> {
  const turn = (powerOnsInFlight.get(key) ?? Promise.resolve()).then(run, run);
  const done = turn.then(
    () => undefined,
    () => undefined,
  );
  powerOnsInFlight.set(key, done);
  try {
    return await turn;
  } finally {
    if (powerOnsInFlight.get(key) === done) powerOnsInFlight.delete(key);
  }
}

/**
 * `why`: how the import ended, for the message ("failed", "was deleted"). `final`: nobody tries
 * again after this call (a failed import is terminal), so a retryable error is reported as a
 * failure with what to do instead of "trying again".
 */
export async function restoreSourcePower(
  kube: Kube,
  vmImport: VirtualMachineImport,
  log: Logger,
  why: string,
  final: boolean,
): Promise<SourcePowerRecord | undefined> {
  const vmName = vmImport.spec.virtualMachineName ?? '';
  const decision = sourcePowerDecision(vmImport, vmName);
  if (decision.action === 'none') return undefined;
  if (decision.action === 'record') return decision.record;

  const ref = vmImport.spec.sourceCluster;
  const kind = sourceKindOf(ref?.kind);
  const namespace = ref?.namespace || vmImport.metadata.namespace || 'default';
  const source = kind && ref?.name ? await kube.find(API_VERSION, kind, namespace, ref.name) : undefined;
  if (!kind || !source)
    return powerOnFailureRecord(
      vmName,
      'SourceNotFound',
      `${ref?.kind ?? 'the source'} ${namespace}/${ref?.name ?? ''} no longer exists`,
      true,
    );
  const adapter = await adapterFor(kind);
  if (!adapter.hasPower) return undefined;
  const other = await otherImportOfTheSameVm(kube, vmImport, kind, namespace);
  if (other) {
    const message = `source VM ${vmName} stays off: import ${other} of the same VM is exporting or has imported it`;
    return {
      condition: {
        type: ImportConditionType.SourcePoweredOn,
        status: 'False',
        reason: 'SourceInUse',
        message,
      },
      event: { type: 'Normal', reason: 'SourceInUse', message },
    };
  }
  try {
    const target = await sourceTargetOf(kube, kind, source, vmImport);
    const vmKey = JSON.stringify([kind, namespace, ref?.name, vmImport.spec.folder ?? '', vmName]);
    const answer = await oneAtATime(vmKey, () => adapter.powerOn(target, { log }));
    log.info('source power restored', { vm: vmName, state: answer.state });
    return powerOnRecord(answer, why);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    log.warn('could not power the source on', { vm: vmName, error: message });
    if (e instanceof SourceError)
      return powerOnFailureRecord(vmName, e.reason, message, final || !e.retryable);
    return powerOnFailureRecord(vmName, 'PowerOnFailed', message, final);
  }
}
