// Choosing the KubeVirt VM name of an import that has no spec.targetName: the source name
// sanitised (naming.ts), free among the namespace's VMs and the names other imports hold. Two
// imports choosing at once can still pick the same name; the vm function's create settles it
// (only one create succeeds) and the loser chooses again.
import { IMPORT_ANNOTATION } from './labels.ts';
import { API_VERSION, KINDS, type VirtualMachineImport } from './api/index.ts';
import type { Kube, Obj } from './kube/client.ts';
import { sanitizeVmName } from './naming.ts';

/** Names in the namespace that this import must not take: foreign VMs and other imports' targets. */
export function takenNames(vmImport: VirtualMachineImport, vms: Obj[], imports: Obj[]): Set<string> {
  const taken = new Set<string>();
  for (const vm of vms)
    if (vm.metadata?.annotations?.[IMPORT_ANNOTATION] !== vmImport.metadata.name)
      taken.add(vm.metadata!.name!);
  for (const other of imports) {
    if (other.metadata?.name === vmImport.metadata.name) continue;
    const name = (other.status as { importedVirtualMachineName?: string } | undefined)
      ?.importedVirtualMachineName;
    if (name) taken.add(name);
  }
  return taken;
}

/** A free VM name for `sourceName` (throws when none is left: the user must set spec.targetName). */
export async function chooseVmName(
  kube: Kube,
  vmImport: VirtualMachineImport,
  sourceName: string,
  alsoTaken: string[] = [],
): Promise<string> {
  const namespace = vmImport.metadata.namespace ?? 'default';
  const [vms, imports] = await Promise.all([
    kube.list<Obj>('kubevirt.io/v1', 'VirtualMachine', namespace),
    kube.list<Obj>(API_VERSION, KINDS.VirtualMachineImport.kind, namespace),
  ]);
  const taken = takenNames(vmImport, vms, imports);
  for (const name of alsoTaken) taken.add(name);
  return sanitizeVmName(sourceName, { taken: (n) => taken.has(n), salt: vmImport.metadata.uid ?? '' });
}
