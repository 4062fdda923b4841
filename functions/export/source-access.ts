// How the export function and the exporter Job reach the import's source: connection settings
// from the source spec + credentials, the VM's location from the import spec. No I/O here except
// in the functions that say so (describe, size).
import type {
  OpenstackSourceSpec,
  OvaSourceSpec,
  SourceKind,
  VirtualMachineImport,
  VmwareSourceSpec,
} from '../shared/api/index.ts';
import type { Obj } from '../shared/kube/client.ts';
import { connectionFromSpec, describeOpenstackServer } from '../shared/sources/openstack/index.ts';
import { readOvaDescriptor, verifyOvaSource } from '../shared/sources/ova/index.ts';
import { SourceError, type SourceVm } from '../shared/sources/types.ts';
import { describeVmwareVm, resolveVmwareConnection } from '../shared/sources/vmware/index.ts';
import {
  scratchSizeForDisks,
  scratchSizeForOva,
  type ScratchSize,
  type ScratchSizing,
} from './scratch-size.ts';

export interface Credentials {
  /** `<namespace>/<name>` of the Secret, for messages. */
  name: string;
  /** Decoded values. */
  data: Record<string, string>;
}

export interface SourceTarget {
  kind: SourceKind;
  source: Obj;
  credentials?: Credentials;
  imp: VirtualMachineImport;
}

function requireCredentials(t: SourceTarget): Credentials {
  if (!t.credentials)
    throw new SourceError(
      'MissingCredentials',
      'spec.credentials of the source must name the Secret with the credentials',
    );
  return t.credentials;
}

export function vmwareTarget(t: SourceTarget) {
  const spec = (t.source.spec ?? {}) as VmwareSourceSpec;
  const creds = requireCredentials(t);
  return {
    conn: resolveVmwareConnection(spec, creds.data, creds.name),
    dc: spec.dc ?? '',
    vm: { name: t.imp.spec.virtualMachineName ?? '', folder: t.imp.spec.folder },
  };
}

export function openstackTarget(t: SourceTarget) {
  const spec = (t.source.spec ?? {}) as OpenstackSourceSpec;
  const creds = requireCredentials(t);
  return {
    conn: connectionFromSpec(spec, creds.data, creds.name),
    nameOrId: t.imp.spec.virtualMachineName ?? '',
    spec,
  };
}

export const ovaSpecOf = (t: SourceTarget) => (t.source.spec ?? {}) as OvaSourceSpec;

/** The VM as the source describes it (VMware, OpenStack); OVA has no description before export. */
export async function describeSourceVm(t: SourceTarget): Promise<SourceVm | undefined> {
  switch (t.kind) {
    case 'VmwareSource': {
      const { conn, dc, vm } = vmwareTarget(t);
      return describeVmwareVm(conn, dc, vm);
    }
    case 'OpenstackSource': {
      const { conn, nameOrId } = openstackTarget(t);
      return describeOpenstackServer(conn, nameOrId);
    }
    case 'OvaSource':
      return undefined;
  }
}

/** Scratch size for the import: asks the source about the disks (network I/O). */
export async function scratchSizeOf(t: SourceTarget, sizing: ScratchSizing): Promise<ScratchSize> {
  if (t.kind !== 'OvaSource') {
    const vm = await describeSourceVm(t);
    return scratchSizeForDisks(vm?.disks ?? [], sizing);
  }
  const spec = ovaSpecOf(t);
  const probe = await verifyOvaSource(spec, t.credentials?.data);
  if (probe.sizeBytes !== undefined && probe.sizeBytes > 0)
    return scratchSizeForOva(probe.sizeBytes, undefined, sizing);
  const ovf = await readOvaDescriptor(spec, t.credentials?.data);
  const disks = ovf.disks.map((d) => ({
    sizeBytes: d.capacityBytes,
    ...(d.populatedBytes !== undefined ? { allocatedBytes: d.populatedBytes } : {}),
  }));
  return scratchSizeForOva(undefined, disks, sizing);
}
