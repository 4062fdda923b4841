// The PVC a VM disk lives on, made from the disk's VirtualMachineImage. No owner: the volume must
// outlive the import.
//  - backingimage backend (as upstream's findAndCreatePVC): Longhorn populates it from the backing image because
//    of the imageId annotation and the image's own StorageClass (`longhorn-<image>`, image
//    status.storageClassName);
//  - cdi backend: Harvester imports the image into a PVC named after the image, in the image's
//    target class (harvester pkg/image/cdi/cdi.go initializeDownload); the VM gets a clone of it
//    (spec.dataSource), never the image's own volume (upstream handed the VM the image's own
//    volume, so deleting the image deleted the VM disk).
import { labelValue } from '../naming.ts';
import {
  ANNOTATION_IMAGE_ID,
  LABEL_DISK_INDEX,
  LABEL_IMPORTED,
  LABEL_IMPORT_NAME,
  LABEL_IMPORT_UID,
} from '../labels.ts';

export interface PersistentVolumeClaimManifest {
  apiVersion: 'v1';
  kind: 'PersistentVolumeClaim';
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  };
  spec: {
    dataSource?: { kind: 'PersistentVolumeClaim'; name: string };
    accessModes: string[];
    volumeMode: 'Block' | 'Filesystem';
    resources: { requests: { storage: string } };
    storageClassName: string;
  };
}

export interface BuildVolumeClaimInput {
  /** PVC name; upstream uses the image name. */
  name: string;
  namespace: string;
  imageNamespace: string;
  imageName: string;
  /** Virtual size of the image in bytes (imageVolumeSizeBytes()). */
  sizeBytes: number;
  /** The image's StorageClass (imageStorageClassName()). */
  storageClassName: string;
  importName: string;
  importUid?: string;
  diskIndex?: number;
  /** The image's backend (imageBackend()); default backingimage. */
  backend?: 'backingimage' | 'cdi';
  /** Block (default, Harvester's VM disks); a cdi clone takes its source's mode. */
  volumeMode?: 'Block' | 'Filesystem';
  /** ReadWriteMany (default, live migration); a cdi clone takes its source's. */
  accessModes?: string[];
}

export function buildVolumeClaim(input: BuildVolumeClaimInput): PersistentVolumeClaimManifest {
  if (!Number.isSafeInteger(input.sizeBytes) || input.sizeBytes <= 0) {
    throw new RangeError(`volume ${input.name}: size must be a positive byte count, got ${input.sizeBytes}`);
  }
  const labels: Record<string, string> = {
    [LABEL_IMPORTED]: 'true',
    [LABEL_IMPORT_NAME]: labelValue(input.importName),
  };
  if (input.importUid) labels[LABEL_IMPORT_UID] = labelValue(input.importUid);
  if (input.diskIndex !== undefined) labels[LABEL_DISK_INDEX] = String(input.diskIndex);
  const cdi = input.backend === 'cdi';
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      name: input.name,
      namespace: input.namespace,
      labels,
      annotations: cdi ? {} : { [ANNOTATION_IMAGE_ID]: `${input.imageNamespace}/${input.imageName}` },
    },
    spec: {
      ...(cdi ? { dataSource: { kind: 'PersistentVolumeClaim' as const, name: input.imageName } } : {}),
      accessModes: input.accessModes ?? ['ReadWriteMany'],
      volumeMode: input.volumeMode ?? 'Block',
      // A plain byte count: exactly the image's virtual size, no unit rounding.
      resources: { requests: { storage: String(input.sizeBytes) } },
      storageClassName: input.storageClassName,
    },
  };
}
