// Reads a VirtualMachineImport's status from the local cluster (tests and the bench poll it).
import { API_VERSION, type VirtualMachineImportStatus } from '../functions/shared/api/index.ts';
import type { LocalCluster } from './cluster.ts';

export async function importStatus(cluster: LocalCluster, name: string, namespace = 'default') {
  const obj = await cluster.kube.find(API_VERSION, 'VirtualMachineImport', namespace, name);
  return (obj?.status ?? {}) as VirtualMachineImportStatus;
}
