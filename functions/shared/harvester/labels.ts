// Label and annotation keys on the objects the import creates (upstream spellings where upstream
// has them, §9.4–§9.6; the import-name/-uid/disk-index labels are ours, §13 B14).

/** On every VirtualMachineImage, PVC and VirtualMachine the import created. Value "true". */
export const LABEL_IMPORTED = 'migration.harvesterhci.io/imported';
/** Name of the VirtualMachineImport (passed through labelValue()). */
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
