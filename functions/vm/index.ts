// diskImagesReady → virtualMachineCreated: a PVC per image and the KubeVirt VirtualMachine, built
// from the source VM description the export Job stored; then frees the scratch space.
import type { ConditionReason } from '../shared/condition-reasons.ts';
import { ImportStatus, type VirtualMachineImport, ImportConditionType } from '../shared/api/index.ts';
import type { DiskBus } from '../shared/sources/types.ts';
import { IMPORT_ANNOTATION, LABEL_IMPORT_UID } from '../shared/labels.ts';
import {
  imageBackend,
  imageStorageClassName,
  imageVolumeSizeBytes,
  type ImageLike,
} from '../shared/harvester/virtual-machine-image.ts';
import { phaseFunction, type ImportStepContext, type StepOutcome } from '../shared/phase-function.ts';
import { importObjectNames } from '../shared/import-objects.ts';
import { findMapping, mapNetworks, unmappedNicsMessage } from '../shared/kubevirt/network-mapping.ts';
import { buildVirtualMachine } from '../shared/kubevirt/virtual-machine.ts';
import { buildVolumeClaim } from '../shared/kubevirt/volumes.ts';
import type { Obj } from '../shared/kube/client.ts';
import { quantityToScalar } from '@kubernetes/client-node/dist/util.js';
import { dnsName, labelValue, NoFreeNameError } from '../shared/naming.ts';
import { chooseVmName } from '../shared/vm-name.ts';
import { freeScratch } from '../shared/scratch.ts';
import type { SourceVm } from '../shared/sources/types.ts';
import { admissionDenial, imagesByDisk } from '../shared/disk-server/images.ts';

export const SOURCE_VM_KEY = 'vm.json';

export const volumeClaimName = (vmName: string, index: number) => dnsName([vmName, `disk-${index}`]);

/**
 * The imported VM keeps the source's MAC addresses (guest network configuration and DHCP
 * reservations follow the MAC). Harvester ≥ 1.5 refuses a second VM with one of them on the same
 * cluster network (pkg/webhook/resources/virtualmachine/validator.go checkForDuplicateMacAddrs):
 * a second import of the same source VM, or an import of a VM already running on Harvester.
 */
function duplicateMacMessage(vmName: string, source: SourceVm, denied: string): string {
  const macs = source.nics.map((n) => n.mac).filter(Boolean);
  return `Harvester refused VirtualMachine ${vmName} because another VM already uses one of the source's MAC addresses (${macs.join(', ')}) on the same network: ${denied}. An imported VM keeps its MAC addresses; delete or change the NICs of the other VM (e.g. an earlier import of the same source), then re-create the import`;
}

/**
 * What a clone of a cdi image's volume (the claim CDI made for the image's DataVolume, named after
 * the image: harvester pkg/image/cdi/cdi.go) must be: its volume mode (external-provisioner
 * getPVCSource refuses another), its access modes (what CDI's StorageProfile found the driver
 * supports for that mode) and exactly its capacity. Longhorn's CSI CreateVolume refuses a
 * clone of any other size (csi/controller_server.go, "the requested size … is different than the
 * source volume size"), and CDI's claim is not always the image's virtual size: a Filesystem claim
 * carries CDI's filesystem overhead (containerized-data-importer pkg/util GetRequiredSpace). The
 * image's volume holds the whole source disk (its virtual size is the served disk's), so the
 * clone is large enough. Undefined until the claim is Bound.
 */
async function cloneSource(
  kube: ImportStepContext['kube'],
  namespace: string,
  imageName: string,
): Promise<{ sizeBytes: number; volumeMode: 'Block' | 'Filesystem'; accessModes: string[] } | undefined> {
  const pvc = await kube.find<Obj>('v1', 'PersistentVolumeClaim', namespace, imageName);
  const status = pvc?.status as { phase?: string; capacity?: { storage?: string } } | undefined;
  const spec = pvc?.spec as
    | { volumeMode?: string; accessModes?: string[]; resources?: { requests?: { storage?: string } } }
    | undefined;
  if (!pvc || status?.phase !== 'Bound') return undefined;
  const quantity = status.capacity?.storage ?? spec?.resources?.requests?.storage;
  const sizeBytes = quantity ? Number(quantityToScalar(quantity)) : 0;
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) return undefined;
  return {
    sizeBytes,
    volumeMode: spec?.volumeMode === 'Filesystem' ? 'Filesystem' : 'Block',
    accessModes: spec?.accessModes?.length ? spec.accessModes : ['ReadWriteMany'],
  };
}

export async function vmStep({ kube, import: vmImport }: ImportStepContext): Promise<StepOutcome> {
  const status = vmImport.status ?? {};
  const namespace = vmImport.metadata.namespace ?? 'default';
  const vmName = status.importedVirtualMachineName!;
  const fail = (reason: ConditionReason, message: string): StepOutcome => ({
    action: 'update',
    status: { ...status, importStatus: ImportStatus.Failed },
    condition: { type: ImportConditionType.VirtualMachineCreated, status: 'False', reason, message },
    event: { type: 'Warning', reason, message },
  });

  const stored = await kube.find<Obj>(
    'v1',
    'ConfigMap',
    namespace,
    importObjectNames(vmImport.metadata.name!).sourceVm,
  );
  const json = (stored?.data as Record<string, string> | undefined)?.[SOURCE_VM_KEY];
  if (!json)
    return fail(
      'SourceDescriptionMissing',
      `ConfigMap ${importObjectNames(vmImport.metadata.name!).sourceVm} with the source VM description is missing; re-create the import`,
    );
  const source = JSON.parse(json) as SourceVm;

  const ours = (o: Obj | undefined) =>
    o?.metadata?.labels?.[LABEL_IMPORT_UID] === labelValue(vmImport.metadata.uid!);

  const images = await imagesByDisk(kube, vmImport);
  const disks = status.diskImportStatus ?? [];
  const claims: { claim: Obj; bus: DiskBus; bootOrder: number }[] = [];
  for (const [index, disk] of disks.entries()) {
    const image = images.get(index) as ImageLike | undefined;
    const storageClassName = image && imageStorageClassName(image);
    let sizeBytes = image && imageVolumeSizeBytes(image, disk.diskSize ?? undefined);
    let clone: Awaited<ReturnType<typeof cloneSource>>;
    if (image && imageBackend(image) === 'cdi') {
      clone = await cloneSource(kube, namespace, image.metadata!.name!);
      if (!clone)
        return { action: 'wait', why: `the volume of image ${image.metadata!.name} is not bound yet` };
      sizeBytes = clone.sizeBytes;
    }
    if (!image || !sizeBytes || !storageClassName)
      return { action: 'wait', why: `image of disk ${index} has no size or storage class yet` };
    const claim = buildVolumeClaim({
      name: volumeClaimName(vmName, index),
      namespace,
      imageNamespace: namespace,
      imageName: image.metadata!.name!,
      sizeBytes,
      storageClassName,
      importName: vmImport.metadata.name!,
      importUid: vmImport.metadata.uid!,
      diskIndex: index,
      backend: imageBackend(image),
      ...(clone ? { volumeMode: clone.volumeMode, accessModes: clone.accessModes } : {}),
    }) as unknown as Obj;
    claims.push({
      claim,
      bus: (disk.busType || vmImport.spec.defaultDiskBusType || 'virtio') as DiskBus,
      bootOrder: index + 1,
    });
  }
  const layout = mapNetworks(source.nics, vmImport.spec, namespace);
  const manifest = buildVirtualMachine({
    name: vmName,
    namespace,
    importName: vmImport.metadata.name!,
    importUid: vmImport.metadata.uid!,
    vm: source,
    spec: vmImport.spec,
    volumes: claims.map(({ claim, bus, bootOrder }) => ({
      claimName: claim.metadata!.name!,
      bus,
      bootOrder,
    })),
    networkLayout: layout,
    // spec.startVirtualMachine: false creates the VM stopped (vm-status ends the import then).
    ...(vmImport.spec.startVirtualMachine === false ? { runStrategy: 'Halted' as const } : {}),
  }) as unknown as Obj;
  manifest.metadata!.annotations = {
    ...manifest.metadata!.annotations,
    [IMPORT_ANNOTATION]: vmImport.metadata.name!,
  };
  // The VM first: its create is what makes the name ours (KubeVirt waits for the claims). Two
  // imports that chose the same name at once both get here; the one whose create lost renames.
  let vm: Obj;
  try {
    vm = (await kube.ensure(manifest)).object;
  } catch (e) {
    const denied = admissionDenial(e);
    if (!denied) throw e;
    if (/duplicate mac address/i.test(denied))
      return fail('DuplicateMacAddress', duplicateMacMessage(vmName, source, denied));
    return fail('VirtualMachineRefused', `Harvester refused VirtualMachine ${vmName}: ${denied}`);
  }
  if (!ours(vm)) {
    if (vmImport.spec.targetName)
      return fail(
        'VirtualMachineNameTaken',
        `a VirtualMachine named ${vmName} already exists and was not created by this import; choose another spec.targetName and re-create the import`,
      );
    let renamed: string;
    try {
      renamed = await chooseVmName(kube, vmImport, source.name, [vmName]);
    } catch (e) {
      if (e instanceof NoFreeNameError) return fail('NoFreeName', e.message);
      throw e;
    }
    const message = `the name ${vmName} was taken meanwhile by another VM or import; the VM will be created as ${renamed}`;
    return {
      action: 'update',
      status: { ...status, importedVirtualMachineName: renamed },
      condition: {
        type: ImportConditionType.VirtualMachineCreated,
        status: 'False',
        reason: 'VirtualMachineRenamed',
        message,
      },
      event: { type: 'Normal', reason: 'VirtualMachineRenamed', message },
    };
  }
  for (const { claim } of claims) {
    const { object: pvc } = await kube.ensure(claim);
    if (!ours(pvc))
      return fail(
        'VolumeClaimNameTaken',
        `PersistentVolumeClaim ${claim.metadata!.name} already exists and was not created by this import; remove it, then re-create the import`,
      );
  }
  const volumes = claims;
  await freeScratch(kube, vmImport as VirtualMachineImport);

  const onPodNetwork = source.nics
    .filter((nic) => !findMapping(nic, vmImport.spec.networkMapping ?? []) && !layout.unmapped.includes(nic))
    .map((nic) => `${nic.mac ?? 'NIC'} (source network "${nic.network}")`);
  const unmapped = [
    onPodNetwork.length
      ? `no networkMapping for ${onPodNetwork.join(', ')}: attached to the pod network`
      : '',
    unmappedNicsMessage(layout.unmapped) ?? '',
  ]
    .filter(Boolean)
    .join('; ');
  const message = `VirtualMachine ${vmName} created${vmImport.spec.startVirtualMachine === false ? ' stopped' : ''} with ${volumes.length} disk(s) and ${layout.interfaces.length} NIC(s)${unmapped ? `; ${unmapped}` : ''}`;
  return {
    action: 'update',
    status: { ...status, importStatus: ImportStatus.VirtualMachineCreated },
    condition: {
      type: ImportConditionType.VirtualMachineCreated,
      status: 'True',
      reason: 'VirtualMachineCreated',
      message,
    },
    event: { type: unmapped ? 'Warning' : 'Normal', reason: 'VirtualMachineCreated', message },
  };
}

export const handle = phaseFunction('vm', vmStep);
