// The StorageClasses of the local cluster: those of a Harvester cluster with Longhorn, plus a
// Longhorn v2 class and a third-party CSI class, so that imports to each can be tried. The
// per-image classes (`longhorn-<image>`) are made by the image stand-in (harvester/image-controller.ts)
// as Harvester's backing-image backend makes them.
import type { KubeObject } from '../../../functions/shared/kube/client.ts';

export const LONGHORN_DRIVER = 'driver.longhorn.io';
export const CEPH_RBD_DRIVER = 'rook-ceph.rbd.csi.ceph.com';

export type StorageClass = KubeObject & {
  provisioner?: string;
  parameters?: Record<string, string>;
  reclaimPolicy?: string;
  volumeBindingMode?: string;
  allowVolumeExpansion?: boolean;
};

const storageClass = (
  name: string,
  provisioner: string,
  parameters: Record<string, string>,
  annotations: Record<string, string> = {},
): StorageClass => ({
  apiVersion: 'storage.k8s.io/v1',
  kind: 'StorageClass',
  metadata: { name, annotations },
  provisioner,
  allowVolumeExpansion: true,
  reclaimPolicy: 'Delete',
  volumeBindingMode: 'Immediate',
  parameters,
});

export const LOCAL_CLUSTER_STORAGE_CLASSES: StorageClass[] = [
  // Harvester's own default class: deploy/charts/harvester/templates/harvester-storageclass.yaml
  // (Immediate: an imported VM's volumes must bind before virt-launcher consumes them) with the
  // chart's values.yaml (replicaCount 3, reclaimPolicy Delete). No dataEngine: Longhorn v1.
  storageClass(
    'harvester-longhorn',
    LONGHORN_DRIVER,
    { numberOfReplicas: '3', staleReplicaTimeout: '30', fromBackup: '', baseImage: '', migratable: 'true' },
    {
      'storageclass.kubernetes.io/is-default-class': 'true',
      'harvesterhci.io/is-reserved-storageclass': 'true',
    },
  ),
  // A Longhorn v2 (SPDK) class as Harvester's documentation has users create one: the same driver
  // with `dataEngine: v2` (longhorn-manager csi/util.go getVolumeOptions reads it).
  storageClass('longhorn-v2', LONGHORN_DRIVER, {
    numberOfReplicas: '3',
    staleReplicaTimeout: '30',
    migratable: 'true',
    dataEngine: 'v2',
  }),
  // A third-party CSI class: Rook's Ceph RBD example (rook deploy/examples/csi/rbd/storageclass.yaml),
  // without its csi.storage.k8s.io/*-secret-* parameters (no Ceph here to hold credentials for).
  storageClass('rook-ceph-block', CEPH_RBD_DRIVER, {
    clusterID: 'rook-ceph',
    pool: 'replicapool',
    imageFormat: '2',
    imageFeatures: 'layering',
    'csi.storage.k8s.io/fstype': 'ext4',
  }),
];
