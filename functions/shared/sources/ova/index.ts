// The OVA source client: verify an OvaSource, export its VM's disks in one streaming pass.
export { verifyOvaSource, type OvaVerification } from './verify.ts';
export { exportOva, type OvaExportResult } from './export.ts';
export { parseOvfDescriptor, type OvfDescriptor, type OvfDisk } from './ovf-descriptor.ts';
export { parseManifest } from './manifest.ts';
export { OVA_SECRET_KEYS, type SecretData, type OvaSourceSpecLike } from './http-settings.ts';
export { readOvaDescriptor } from './describe.ts';
