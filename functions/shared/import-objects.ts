// Names and labels of the objects an import creates, in one place so that every function (and
// cleanup) agrees on them.
import { API_VERSION, type VirtualMachineImport } from './api/index.ts';
import { LABEL_IMPORT_NAME, LABEL_IMPORT_UID } from './harvester/labels.ts';
import { dnsName, labelValue } from './naming.ts';

export const importObjectNames = (importName: string) => ({
  scratchClaim: dnsName([importName, 'scratch']),
  exportJob: dnsName([importName, 'export']),
  credentials: dnsName([importName, 'credentials']),
  sourceVm: dnsName([importName, 'source-vm']),
  diskServer: dnsName([importName, 'disks'], 63, { startWithLetter: true }),
});

/** Labels that tie an object to its import (the uid tells a re-created import from the old one). */
export function importLabels(imp: VirtualMachineImport): Record<string, string> {
  return {
    [LABEL_IMPORT_NAME]: labelValue(imp.metadata.name!),
    ...(imp.metadata.uid ? { [LABEL_IMPORT_UID]: imp.metadata.uid } : {}),
  };
}

export const importUidSelector = (imp: VirtualMachineImport): string =>
  `${LABEL_IMPORT_UID}=${imp.metadata.uid}`;

/** An owner reference to the import: deleting the import garbage-collects the object. */
export function ownedByImport(imp: VirtualMachineImport, controller = true) {
  return {
    apiVersion: API_VERSION,
    kind: 'VirtualMachineImport',
    name: imp.metadata.name!,
    uid: imp.metadata.uid!,
    controller,
    blockOwnerDeletion: false,
  };
}
