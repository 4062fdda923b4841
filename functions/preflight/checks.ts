// Generic preflight checks (upstream's preFlightChecks in virtualmachine.go, plus the target name), as a pure function of what the
// function looked up. Source-specific checks (networks, VM, Tools) run after these pass.
import type { ConditionReason } from '../shared/condition-reasons.ts';
import {
  API_VERSION,
  CLUSTER_READY,
  SOURCE_KINDS,
  SourceConditionType,
  sourceKindOf,
  type SourceKind,
  type SourceStatus,
  type VirtualMachineImportSpec,
} from '../shared/api/index.ts';
import { getCondition } from '../shared/condition-list.ts';

export interface PreflightFacts {
  /** The source object's status, or null when the source does not exist. */
  source: { status?: SourceStatus | null } | null;
  storageClassExists: boolean;
  /** `<namespace>/<name>` of every NetworkAttachmentDefinition that exists among those asked for. */
  existingNetworks: Set<string>;
  /** A VM with the requested targetName exists and was not created by this import. */
  targetNameTakenByOther: boolean;
}

export type PreflightVerdict =
  | { verdict: 'valid'; kind: SourceKind }
  | { verdict: 'invalid'; reason: ConditionReason; message: string }
  | { verdict: 'wait'; reason: ConditionReason; message: string };

/** `<name>` → `<importNamespace>/<name>`; `<ns>/<name>` as is; anything else is invalid. */
export function destinationNetworkKey(
  value: string | null | undefined,
  importNamespace: string,
): string | undefined {
  const parts = (value ?? '').split('/');
  if (parts.length === 1 && parts[0]) return `${importNamespace}/${parts[0]}`;
  if (parts.length === 2 && parts[0] && parts[1]) return `${parts[0]}/${parts[1]}`;
  return undefined;
}

/** What the function must look up before calling `preflightVerdict` (no I/O here). */
export function preflightLookups(spec: VirtualMachineImportSpec, importNamespace: string) {
  return {
    networks: (spec.networkMapping ?? [])
      .map((m) => destinationNetworkKey(m.destinationNetwork, importNamespace))
      .filter((k): k is string => !!k),
  };
}

export function staticChecks(
  spec: VirtualMachineImportSpec,
): { verdict: 'invalid'; reason: ConditionReason; message: string } | { verdict: 'ok'; kind: SourceKind } {
  const ref = spec.sourceCluster;
  if (!ref?.name)
    return { verdict: 'invalid', reason: 'MissingSource', message: 'spec.sourceCluster.name is required' };
  if (ref.apiVersion !== API_VERSION)
    return {
      verdict: 'invalid',
      reason: 'UnsupportedSourceApiVersion',
      message: `expected spec.sourceCluster.apiVersion to be '${API_VERSION}' but got '${ref.apiVersion ?? ''}'`,
    };
  const kind = sourceKindOf(ref.kind);
  if (!kind)
    return {
      verdict: 'invalid',
      reason: 'UnsupportedSourceKind',
      message: `unsupported source kind "${ref.kind ?? ''}": use ${SOURCE_KINDS.join(', ').replace(/, (?=[^,]*$)/, ' or ')}`,
    };
  if (!spec.virtualMachineName?.trim())
    return {
      verdict: 'invalid',
      reason: 'MissingVirtualMachineName',
      message: 'spec.virtualMachineName is required: the name (or OpenStack ID) of the VM to import',
    };
  const seen = new Set<string>();
  for (const m of spec.networkMapping ?? []) {
    const source = m.sourceNetwork ?? '';
    if (seen.has(source))
      return {
        verdict: 'invalid',
        reason: 'DuplicateSourceNetwork',
        message: `source network "${source}" appears multiple times in spec.networkMapping`,
      };
    seen.add(source);
  }
  return { verdict: 'ok', kind };
}

export function preflightVerdict(
  spec: VirtualMachineImportSpec,
  importNamespace: string,
  facts: PreflightFacts,
): PreflightVerdict {
  const fixed = staticChecks(spec);
  if (fixed.verdict === 'invalid') return fixed;
  const ref = spec.sourceCluster!;
  const sourceName = `${fixed.kind} ${ref.namespace ?? importNamespace}/${ref.name}`;
  if (!facts.source)
    return {
      verdict: 'wait',
      reason: 'SourceNotFound',
      message: `${sourceName} does not exist yet; the import starts once it exists and is clusterReady`,
    };
  if (facts.source.status?.status !== CLUSTER_READY) {
    const why = getCondition(facts.source.status?.conditions, SourceConditionType.ClusterError)?.message;
    return {
      verdict: 'wait',
      reason: 'SourceNotReady',
      message: `${sourceName} is not clusterReady yet${why ? `: ${why}` : ''}`,
    };
  }
  if (spec.storageClass && !facts.storageClassExists)
    return {
      verdict: 'invalid',
      reason: 'StorageClassNotFound',
      message: `StorageClass "${spec.storageClass}" does not exist; fix spec.storageClass or leave it empty for the default`,
    };
  for (const m of spec.networkMapping ?? []) {
    const key = destinationNetworkKey(m.destinationNetwork, importNamespace);
    if (!key)
      return {
        verdict: 'invalid',
        reason: 'InvalidDestinationNetwork',
        message: `invalid destination network "${m.destinationNetwork ?? ''}": use "<name>" or "<namespace>/<name>"`,
      };
    if (!facts.existingNetworks.has(key))
      return {
        verdict: 'invalid',
        reason: 'DestinationNetworkNotFound',
        message: `NetworkAttachmentDefinition ${key} (destination of source network "${m.sourceNetwork ?? ''}") does not exist`,
      };
  }
  if (spec.targetName && facts.targetNameTakenByOther)
    return {
      verdict: 'invalid',
      reason: 'TargetNameTaken',
      message: `a VirtualMachine named "${spec.targetName}" already exists in ${importNamespace} and was not created by this import; choose another spec.targetName`,
    };
  return { verdict: 'valid', kind: fixed.kind };
}
