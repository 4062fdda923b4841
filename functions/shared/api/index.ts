// The public API of vm-import: migration.harvesterhci.io/v1beta1, one zod schema per kind.
// CRDs (config/crds), validation and TypeScript types are all derived from these.
export * from './common.ts';
export * from './vmware-source.ts';
export * from './openstack-source.ts';
export * from './ova-source.ts';
export * from './virtual-machine-import.ts';
export * from './kinds.ts';
export * from './source-kinds.ts';
