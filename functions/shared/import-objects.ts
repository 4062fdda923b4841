// The identity of the objects an import owns — names, labels, owner reference — in one place so
// that every function (and cleanup) agrees on them.
import { API_VERSION, type VirtualMachineImport } from './api/index.ts';
import { LABEL_IMPORT_NAME, LABEL_IMPORT_UID } from './labels.ts';
import { dnsName, labelValue } from './naming.ts';

export const importObjectNames = (importName: string) => ({
  scratchClaim: dnsName([importName, 'scratch']),
  exportJob: dnsName([importName, 'export']),
  credentials: dnsName([importName, 'credentials']),
  sourceVm: dnsName([importName, 'source-vm']),
  diskServer: dnsName([importName, 'disks'], 63, { startWithLetter: true }),
});

/** The label every object of an import carries (what the ApiServerSource selects on). */
export const importNameLabel = (importName: string): Record<string, string> => ({
  [LABEL_IMPORT_NAME]: labelValue(importName),
});

/** Labels that tie an object to its import (the uid tells a re-created import from the old one). */
export function importLabels(vmImport: VirtualMachineImport): Record<string, string> {
  return {
    ...importNameLabel(vmImport.metadata.name!),
    ...(vmImport.metadata.uid ? { [LABEL_IMPORT_UID]: vmImport.metadata.uid } : {}),
  };
}

export const importUidSelector = (vmImport: VirtualMachineImport): string =>
  `${LABEL_IMPORT_UID}=${vmImport.metadata.uid}`;

/**
 * The one owner reference to an import: deleting the import garbage-collects the object. Not
 * blocking: the import's deletion never waits for Kubernetes to delete a (possibly large) image,
 * volume or Job, and creating it needs no `update` on the import's finalizers.
 */
export function importOwnerReference(owner: { name: string; uid: string }) {
  return {
    apiVersion: API_VERSION,
    kind: 'VirtualMachineImport',
    name: owner.name,
    uid: owner.uid,
    controller: true,
    blockOwnerDeletion: false,
  };
}

/** importOwnerReference of an import object. */
export const ownedByImport = (vmImport: VirtualMachineImport) =>
  importOwnerReference({ name: vmImport.metadata.name!, uid: vmImport.metadata.uid! });
