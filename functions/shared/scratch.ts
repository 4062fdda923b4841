// Frees what the export needed once the images are in Harvester, the import failed, or it is gone:
// the export Job, the disk server, the scratch volume and the credentials copy. Idempotent.
import type { VirtualMachineImport } from './api/index.ts';
import { importObjectNames } from './import-objects.ts';
import type { Kube } from './kube/client.ts';

export async function freeScratch(kube: Kube, vmImport: VirtualMachineImport): Promise<void> {
  const names = importObjectNames(vmImport.metadata.name!);
  const namespace = vmImport.metadata.namespace ?? 'default';
  const meta = (name: string) => ({ name, namespace });
  await kube.delete({ apiVersion: 'batch/v1', kind: 'Job', metadata: meta(names.exportJob) }, 'Foreground');
  await kube.delete({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: meta(names.diskServer) });
  await kube.delete({ apiVersion: 'v1', kind: 'Service', metadata: meta(names.diskServer) });
  await kube.delete({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: meta(names.scratchClaim) });
  await kube.delete({ apiVersion: 'v1', kind: 'Secret', metadata: meta(names.credentials) });
}

/** freeScratch and the source VM description the exporter published: all an import ever held. */
export async function freeExport(kube: Kube, vmImport: VirtualMachineImport): Promise<void> {
  await freeScratch(kube, vmImport);
  await kube.delete({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: importObjectNames(vmImport.metadata.name!).sourceVm,
      namespace: vmImport.metadata.namespace ?? 'default',
    },
  });
}
