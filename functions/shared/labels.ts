// Every label and annotation key vm-import reads or writes, in one place (upstream spellings where
// upstream has them; the import-name/-uid/disk-index labels are ours).

/** On every VirtualMachineImage, PVC and VirtualMachine the import created. Value "true". */
export const LABEL_IMPORTED = 'migration.harvesterhci.io/imported';
/**
 * Name of the VirtualMachineImport (passed through labelValue()), on every object vm-import
 * creates; the ApiServerSource watches Jobs, Deployments, images and VMs that carry it.
 */
export const LABEL_IMPORT_NAME = 'migration.harvesterhci.io/import-name';
/** metadata.uid of the VirtualMachineImport: tells a re-created import's objects from the old ones. */
export const LABEL_IMPORT_UID = 'migration.harvesterhci.io/import-uid';
/** Index of the disk (boot order, 0-based) an image or volume belongs to. */
export const LABEL_DISK_INDEX = 'migration.harvesterhci.io/disk-index';

/** Harvester: label copy of a VirtualMachineImage's spec.displayName. */
export const LABEL_IMAGE_DISPLAY_NAME = 'harvesterhci.io/imageDisplayName';
/** Harvester: label on the VM template naming the VM. */
export const LABEL_VM_NAME = 'harvesterhci.io/vmName';
/** Harvester: StorageClass whose parameters an image's backing-image StorageClass copies. */
export const ANNOTATION_IMAGE_STORAGE_CLASS = 'harvesterhci.io/storageClassName';
/** Harvester: `<namespace>/<image name>` a PVC is populated from. */
export const ANNOTATION_IMAGE_ID = 'harvesterhci.io/imageId';

/** Annotation on objects we create that are not owned by the import (e.g. the KubeVirt VM). */
export const IMPORT_ANNOTATION = 'migration.harvesterhci.io/import';
/** On export Jobs: which source they read from, to cap concurrent Jobs per source. */
export const EXPORT_SOURCE_LABEL = 'migration.harvesterhci.io/export-source';
/** Annotation bumped on a queued import when a slot frees (value: the freeing Job's uid). */
export const EXPORT_WAKE_ANNOTATION = 'migration.harvesterhci.io/export-slot-freed';
/** Which submission of the disk's image this is (1 = first); bounds resubmits. */
export const ATTEMPT_LABEL = 'migration.harvesterhci.io/attempt';
/** On the disk server's Deployment: the secret path segment its URLs carry. */
export const TOKEN_ANNOTATION = 'migration.harvesterhci.io/disk-path-token';
/** Annotation the resync function bumps to produce an update event for an object. */
export const RESYNC_ANNOTATION = 'migration.harvesterhci.io/resync';
/** On the cluster-wide objects vm-import installs or creates (RBAC, exporter access). */
export const PART_OF_LABEL = 'app.kubernetes.io/part-of';
export const PART_OF = 'vm-import';
/** On a source: comma-separated namespaces (or "*") whose imports may use it. */
export const ALLOWED_IMPORT_NAMESPACES_ANNOTATION = 'migration.harvesterhci.io/allowed-import-namespaces';
