// diskImagesReady → virtualMachineCreated: a PVC per image and the KubeVirt VirtualMachine, built
// from the source VM description the export Job stored; then frees the scratch space.
import { ImportStatus, type VirtualMachineImport } from '../shared/api/index.ts';
import type { DiskBus } from '../shared/sources/types.ts';
import { LABEL_IMPORT_UID } from '../shared/harvester/labels.ts';
import {
  imageStorageClassName,
  imageVolumeSizeBytes,
  type ImageLike,
} from '../shared/harvester/virtual-machine-image.ts';
import {
  IMPORT_ANNOTATION,
  importFunction,
  type ImportStepContext,
  type StepOutcome,
} from '../shared/import-function.ts';
import { importObjectNames } from '../shared/import-objects.ts';
import { findMapping, mapNetworks, unmappedNicsMessage } from '../shared/kubevirt/network-mapping.ts';
import { buildVirtualMachine } from '../shared/kubevirt/virtual-machine.ts';
import { buildVolumeClaim } from '../shared/kubevirt/volumes.ts';
import type { Obj } from '../shared/kube/client.ts';
import { dnsName } from '../shared/naming.ts';
import { freeScratch } from '../shared/scratch.ts';
import type { SourceVm } from '../shared/sources/types.ts';
import { imagesByDisk } from '../images/index.ts';

export const CONDITION = 'VirtualMachineCreated';
export const SOURCE_VM_KEY = 'vm.json';

export const volumeClaimName = (vmName: string, index: number) => dnsName([vmName, `disk-${index}`]);

export async function vmStep({ kube, import: imp }: ImportStepContext): Promise<StepOutcome> {
  const status = imp.status ?? {};
  if (status.importStatus !== ImportStatus.DiskImagesReady || imp.metadata.deletionTimestamp)
    return { action: 'ignore' };
  const namespace = imp.metadata.namespace ?? 'default';
  const vmName = status.importedVirtualMachineName!;
  const fail = (reason: string, message: string): StepOutcome => ({
    action: 'update',
    status: { ...status, importStatus: ImportStatus.Failed },
    condition: { type: CONDITION, status: 'False', reason, message },
    event: { type: 'Warning', reason, message },
  });

  const stored = await kube.find<Obj>(
    'v1',
    'ConfigMap',
    namespace,
    importObjectNames(imp.metadata.name!).sourceVm,
  );
  const json = (stored?.data as Record<string, string> | undefined)?.[SOURCE_VM_KEY];
  if (!json)
    return fail(
      'SourceDescriptionMissing',
      `ConfigMap ${importObjectNames(imp.metadata.name!).sourceVm} with the source VM description is missing; re-create the import`,
    );
  const source = JSON.parse(json) as SourceVm;

  const existing = await kube.find<Obj>('kubevirt.io/v1', 'VirtualMachine', namespace, vmName);
  if (existing && existing.metadata?.labels?.[LABEL_IMPORT_UID] !== imp.metadata.uid)
    return fail(
      'VirtualMachineNameTaken',
      `a VirtualMachine named ${vmName} already exists and was not created by this import`,
    );

  const images = await imagesByDisk(kube, imp);
  const disks = status.diskImportStatus ?? [];
  const volumes: { claimName: string; bus: DiskBus; bootOrder: number }[] = [];
  for (const [index, disk] of disks.entries()) {
    const image = images.get(index) as ImageLike | undefined;
    const sizeBytes = image && imageVolumeSizeBytes(image);
    const storageClassName = image && imageStorageClassName(image);
    if (!image || !sizeBytes || !storageClassName)
      return { action: 'wait', why: `image of disk ${index} has no size or storage class yet` };
    const claimName = volumeClaimName(vmName, index);
    await kube.ensure(
      buildVolumeClaim({
        name: claimName,
        namespace,
        imageNamespace: namespace,
        imageName: image.metadata!.name!,
        sizeBytes,
        storageClassName,
        importName: imp.metadata.name!,
        importUid: imp.metadata.uid!,
        diskIndex: index,
      }) as unknown as Obj,
    );
    volumes.push({
      claimName,
      bus: (disk.busType || imp.spec.defaultDiskBusType || 'virtio') as DiskBus,
      bootOrder: index + 1,
    });
  }
  const layout = mapNetworks(source.nics, imp.spec, namespace);
  const manifest = buildVirtualMachine({
    name: vmName,
    namespace,
    importName: imp.metadata.name!,
    importUid: imp.metadata.uid!,
    vm: source,
    spec: imp.spec,
    volumes,
    networkLayout: layout,
  }) as unknown as Obj;
  manifest.metadata!.annotations = {
    ...manifest.metadata!.annotations,
    [IMPORT_ANNOTATION]: imp.metadata.name!,
  };
  if (!existing) await kube.ensure(manifest);
  await freeScratch(kube, imp as VirtualMachineImport);

  const onPodNetwork = source.nics
    .filter((nic) => !findMapping(nic, imp.spec.networkMapping ?? []) && !layout.unmapped.includes(nic))
    .map((nic) => `${nic.mac ?? 'NIC'} (source network "${nic.network}")`);
  const unmapped = [
    onPodNetwork.length
      ? `no networkMapping for ${onPodNetwork.join(', ')}: attached to the pod network`
      : '',
    unmappedNicsMessage(layout.unmapped) ?? '',
  ]
    .filter(Boolean)
    .join('; ');
  const message = `VirtualMachine ${vmName} created with ${volumes.length} disk(s) and ${layout.interfaces.length} NIC(s)${unmapped ? `; ${unmapped}` : ''}`;
  return {
    action: 'update',
    status: { ...status, importStatus: ImportStatus.VirtualMachineCreated, progress: 95 },
    condition: { type: CONDITION, status: 'True', reason: 'VirtualMachineCreated', message },
    event: { type: unmapped ? 'Warning' : 'Normal', reason: 'VirtualMachineCreated', message },
  };
}

export const handle = importFunction('vm', vmStep);
