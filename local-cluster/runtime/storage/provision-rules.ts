// What a claim gets from its class, decided as the real components decide it (pure):
//  * kubernetes-csi/external-provisioner (pkg/controller/controller.go): which claims it takes
//    (the PV controller's `volume.kubernetes.io/storage-provisioner` annotation names its driver;
//    WaitForFirstConsumer waits for the scheduler's selected node) and, for a PVC data source,
//    getPVCSource's checks before it calls CreateVolume;
//  * the CSI driver's CreateVolume: Longhorn (longhorn-manager csi/controller_server.go and the
//    volume webhook webhook/resources/volume/validator.go), Ceph RBD (ceph-csi
//    internal/rbd/controllerserver.go validateVolumeReq).
// A refusal becomes the external-provisioner's ProvisioningFailed event and is retried.
import { quantityToScalar } from '@kubernetes/client-node/dist/util.js';
import { CEPH_RBD_DRIVER, LONGHORN_DRIVER, type StorageClass } from './classes.ts';

export const PROVISIONER_ANNOTATION = 'volume.kubernetes.io/storage-provisioner';
export const BETA_PROVISIONER_ANNOTATION = 'volume.beta.kubernetes.io/storage-provisioner';
export const SELECTED_NODE_ANNOTATION = 'volume.kubernetes.io/selected-node';

export type VolumeMode = 'Filesystem' | 'Block';

export interface ClaimFacts {
  name: string;
  namespace: string;
  storageClassName?: string;
  annotations: Record<string, string>;
  accessModes: string[];
  volumeMode: VolumeMode;
  requestBytes: number;
  dataSource?: { kind: string; name: string; apiGroup?: string };
  bound: boolean;
  deleting: boolean;
  volumeName?: string;
}

/** The source of a clone as getPVCSource sees it: its claim and its PersistentVolume. */
export interface CloneSourceFacts {
  claim?: ClaimFacts;
  volume?: { volumeMode: VolumeMode; csiVolumeHandle?: string };
}

/** What CreateVolume is asked for (after external-provisioner's own checks). */
export interface VolumeRequest {
  driver: string;
  parameters: Record<string, string>;
  accessModes: string[];
  volumeMode: VolumeMode;
  requestBytes: number;
  clone?: { sourceBytes: number; volumeHandle: string };
  /** The virtual size of the Longhorn backing image the class names (`backingImage`), if any. */
  backingImageVirtualBytes?: number;
}

export type Refusal = { message: string };

/** Parses a storage quantity ("10Gi", "1500M"); undefined when it is not one. */
export function quantityBytes(quantity: string | undefined): number | undefined {
  if (!quantity) return undefined;
  try {
    const n = Number(quantityToScalar(quantity));
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * external-provisioner's shouldProvision: the claim names this class's driver (set by the PV
 * controller from the class) and, with WaitForFirstConsumer, the scheduler has picked a node.
 */
export function takesClaim(claim: ClaimFacts, cls: StorageClass | undefined): boolean {
  const provisioner =
    claim.annotations[PROVISIONER_ANNOTATION] ?? claim.annotations[BETA_PROVISIONER_ANNOTATION];
  if (!provisioner || !cls || cls.provisioner !== provisioner) return false;
  if (cls.volumeBindingMode === 'WaitForFirstConsumer' && !claim.annotations[SELECTED_NODE_ANNOTATION])
    return false;
  return true;
}

/**
 * getPVCSource (external-provisioner pkg/controller/controller.go): the source claim must be
 * Bound, not being deleted, in the same class, not larger than the new claim, with a CSI volume
 * of the same volume mode. Messages as external-provisioner words them.
 */
export function checkCloneSource(claim: ClaimFacts, source: CloneSourceFacts): Refusal | undefined {
  const name = claim.dataSource!.name;
  const src = source.claim;
  const wrap = (m: string) => ({
    message: `error getting handle for DataSource Type PersistentVolumeClaim by Name ${name}: ${m}`,
  });
  if (!src)
    return wrap(`error getting PVC ${name} from api server: persistentvolumeclaims "${name}" not found`);
  if (!src.bound) return wrap(`the PVC DataSource ${name} must have a status of Bound`);
  if (src.deleting) return wrap(`the PVC DataSource ${name} is currently being deleted`);
  if (!src.storageClassName) return wrap(`the source PVC (${name}) storageclass cannot be empty`);
  if (!claim.storageClassName) return wrap(`the requested PVC (${claim.name}) storageclass cannot be empty`);
  if (src.storageClassName !== claim.storageClassName)
    return wrap(
      `the source PVC and destination PVCs must be in the same storage class for cloning.  Source is in ${src.storageClassName}, but new PVC is in ${claim.storageClassName}`,
    );
  if (claim.requestBytes < src.requestBytes)
    return wrap(
      `error, new PVC request must be greater than or equal in size to the specified PVC data source, requested ${claim.requestBytes} but source is ${src.requestBytes}`,
    );
  if (!src.volumeName || !source.volume) return wrap(`volume name is empty in source PVC ${name}`);
  if (source.volume.volumeMode !== claim.volumeMode)
    return wrap(
      `the source PVC and destination PVCs must have the same volume mode for cloning.  Source is ${source.volume.volumeMode}, but new PVC requested ${claim.volumeMode}`,
    );
  if (!source.volume.csiVolumeHandle)
    return wrap(
      `error getting volume source from persistantVolumeClaim:persistanceVolume ${name}:${src.volumeName}`,
    );
  return undefined;
}

const MULTI_NODE = new Set(['ReadWriteMany', 'ReadOnlyMany']);

/** The driver's CreateVolume answer: a gRPC status as external-provisioner prints it, or undefined. */
export function createVolumeRefusal(req: VolumeRequest): Refusal | undefined {
  const rpc = (code: string, desc: string) => ({ message: `rpc error: code = ${code} desc = ${desc}` });
  if (req.driver === LONGHORN_DRIVER) {
    // csi/controller_server.go CreateVolume, VolumeContentSource_Volume: a clone is exactly the
    // source's size.
    if (req.clone && req.clone.sourceBytes !== req.requestBytes)
      return rpc(
        'OutOfRange',
        `failed to clone volume: the requested size (${req.requestBytes} bytes) is different than the source volume size (${req.clone.sourceBytes} bytes)`,
      );
    const engine = req.parameters.dataEngine ?? 'v1';
    if (engine !== 'v1' && engine !== 'v2') return rpc('InvalidArgument', `invalid data engine ${engine}`);
    // webhook/resources/volume/validator.go Create: the volume holds the whole backing image.
    if (req.backingImageVirtualBytes !== undefined && req.requestBytes < req.backingImageVirtualBytes)
      return rpc('Internal', 'volume size should be larger than the backing image size');
    return undefined;
  }
  if (req.driver === CEPH_RBD_DRIVER) {
    // internal/rbd/controllerserver.go validateVolumeReq: RWX/ROX only on block volumes.
    if (req.accessModes.some((m) => MULTI_NODE.has(m)) && req.volumeMode !== 'Block')
      return rpc('InvalidArgument', 'multi node access modes are only supported on rbd `block` type volumes');
    return undefined;
  }
  return undefined;
}

/** external-provisioner's ProvisioningFailed event message. */
export function provisioningFailedMessage(className: string, refusal: Refusal): string {
  return `failed to provision volume with StorageClass "${className}": ${refusal.message}`;
}
