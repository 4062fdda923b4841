// VMware vSphere source client (vim25 over node-soap). See README in this folder's tests for usage.
export {
  VMWARE_SECRET_KEYS,
  resolveVmwareConnection,
  type SecretData,
  type VmwareConnection,
} from './connection.ts';
export {
  verifyVmwareSource,
  preflightVmwareImport,
  describeVmwareVm,
  type VmwarePreflightInput,
} from './source.ts';
export { exportVmwareVm, type VmwareExportTuning } from './export.ts';
export { stepVmwarePowerOff, vmwarePowerState, type VmwarePowerStep, type VmPowerState } from './power.ts';
export {
  nextPowerAction,
  PowerCondition,
  DEFAULT_GRACEFUL_SHUTDOWN_SECONDS,
  type PowerAction,
  type PowerStepInput,
  type PowerConditionType,
} from './power-step.ts';
export { closeVmwareSessions } from './session.ts';
export type { VmLocation } from './inventory.ts';
export { DISK_BUS_BY_CONTROLLER, NIC_MODEL_BY_DEVICE } from './hardware-mapping.ts';
