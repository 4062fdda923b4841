// The four kinds as Kubernetes serves them: names for the CRDs, discovery and printer columns.
import type { z } from 'zod';
import { SourceStatus } from './common.ts';
import { OpenstackSource, OpenstackSourceSpec } from './openstack-source.ts';
import { OvaSource, OvaSourceSpec } from './ova-source.ts';
import {
  VirtualMachineImport,
  VirtualMachineImportSpec,
  VirtualMachineImportStatus,
} from './virtual-machine-import.ts';
import { VmwareSource, VmwareSourceSpec } from './vmware-source.ts';

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'date';
  jsonPath: string;
  description: string;
  priority?: number;
}

export interface KindInfo {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  description: string;
  schema: z.ZodType;
  spec: z.ZodType;
  status: z.ZodType;
  printerColumns: PrinterColumn[];
}

const AGE: PrinterColumn = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description: 'Time since the object was created.',
};

const sourceColumns: PrinterColumn[] = [
  {
    name: 'Status',
    type: 'string',
    jsonPath: '.status.status',
    description: 'clusterReady or clusterNotReady.',
  },
  AGE,
];

export const CATEGORY = 'vm-import';

export const KINDS = {
  VmwareSource: {
    kind: 'VmwareSource',
    plural: 'vmwaresources',
    singular: 'vmwaresource',
    shortNames: ['vmwaresrc'],
    description: VmwareSource.description ?? '',
    schema: VmwareSource,
    spec: VmwareSourceSpec,
    status: SourceStatus,
    printerColumns: sourceColumns,
  },
  OpenstackSource: {
    kind: 'OpenstackSource',
    plural: 'openstacksources',
    singular: 'openstacksource',
    shortNames: ['ossrc'],
    description: OpenstackSource.description ?? '',
    schema: OpenstackSource,
    spec: OpenstackSourceSpec,
    status: SourceStatus,
    printerColumns: sourceColumns,
  },
  OvaSource: {
    kind: 'OvaSource',
    plural: 'ovasources',
    singular: 'ovasource',
    shortNames: ['ovasrc'],
    description: OvaSource.description ?? '',
    schema: OvaSource,
    spec: OvaSourceSpec,
    status: SourceStatus,
    printerColumns: sourceColumns,
  },
  VirtualMachineImport: {
    kind: 'VirtualMachineImport',
    plural: 'virtualmachineimports',
    singular: 'virtualmachineimport',
    shortNames: ['vmimport'],
    description: VirtualMachineImport.description ?? '',
    schema: VirtualMachineImport,
    spec: VirtualMachineImportSpec,
    status: VirtualMachineImportStatus,
    printerColumns: [
      {
        name: 'Status',
        type: 'string',
        jsonPath: '.status.importStatus',
        description: 'Phase of the import.',
      },
      {
        name: 'Progress',
        type: 'integer',
        jsonPath: '.status.progress',
        description: 'Overall progress in percent.',
      },
      {
        name: 'Source',
        type: 'string',
        jsonPath: '.spec.sourceCluster.name',
        description: 'Name of the source.',
      },
      {
        name: 'VM',
        type: 'string',
        jsonPath: '.status.importedVirtualMachineName',
        description: 'Name of the KubeVirt VirtualMachine.',
      },
      AGE,
    ],
  },
} satisfies Record<string, KindInfo>;

export type KindName = keyof typeof KINDS;
