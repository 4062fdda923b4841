// One entry point per source operation the functions need, dispatching on the source kind.
// Reads the credentials Secret (decoded, never logged) and turns client errors into SourceErrors.
import {
  type OpenstackSourceSpec,
  type OvaSourceSpec,
  type SourceKind,
  type VirtualMachineImport,
  type VmwareSourceSpec,
} from '../api/index.ts';
import { isNotFound, type Kube, type Obj } from '../kube/client.ts';
import {
  connectionFromSpec,
  preflightOpenstackImport,
  resolveOpenstackServerName,
  verifyOpenstackSource,
} from './openstack/index.ts';
import { verifyOvaSource } from './ova/index.ts';
import { SourceError } from './types.ts';
import { preflightVmwareImport, resolveVmwareConnection, verifyVmwareSource } from './vmware/index.ts';

export interface SecretRef {
  name?: string | null;
  namespace?: string | null;
}

/** The Secret's data, base64-decoded. Missing Secret → retryable SourceError (it may come later). */
export async function readSecretData(
  kube: Kube,
  ref: SecretRef | null | undefined,
  defaultNamespace: string,
): Promise<{ name: string; data: Record<string, string> } | undefined> {
  if (!ref?.name) return undefined;
  const namespace = ref.namespace || defaultNamespace;
  const qualified = `${namespace}/${ref.name}`;
  try {
    const secret = await kube.get<Obj>('v1', 'Secret', namespace, ref.name);
    const raw = (secret.data ?? {}) as Record<string, string>;
    const data = Object.fromEntries(
      Object.entries(raw).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    );
    return { name: qualified, data };
  } catch (e) {
    if (isNotFound(e))
      throw new SourceError(
        'SecretNotFound',
        `Secret ${qualified} named in spec.credentials does not exist`,
        {
          retryable: true,
        },
      );
    throw e;
  }
}

const specOf = <T>(source: Obj) => (source.spec ?? {}) as T;
const namespaceOf = (o: Obj) => o.metadata?.namespace ?? 'default';

async function credentialsOf(kube: Kube, source: Obj) {
  const ref = (source.spec as { credentials?: SecretRef | null } | undefined)?.credentials;
  return readSecretData(kube, ref, namespaceOf(source));
}

async function requiredCredentials(kube: Kube, source: Obj) {
  const secret = await credentialsOf(kube, source);
  if (!secret)
    throw new SourceError('MissingCredentials', 'spec.credentials must name the Secret with the credentials');
  return secret;
}

/** Verifies endpoint and credentials; throws a SourceError with a reason and a message. */
export async function verifySource(kube: Kube, kind: SourceKind, source: Obj): Promise<void> {
  switch (kind) {
    case 'VmwareSource': {
      const spec = specOf<VmwareSourceSpec>(source);
      const secret = await requiredCredentials(kube, source);
      await verifyVmwareSource(resolveVmwareConnection(spec, secret.data, secret.name), spec.dc);
      return;
    }
    case 'OpenstackSource': {
      const spec = specOf<OpenstackSourceSpec>(source);
      const secret = await requiredCredentials(kube, source);
      await verifyOpenstackSource(connectionFromSpec(spec, secret.data, secret.name));
      return;
    }
    case 'OvaSource': {
      const spec = specOf<OvaSourceSpec>(source);
      const secret = await credentialsOf(kube, source);
      await verifyOvaSource(spec, secret?.data);
      return;
    }
  }
}

export type SourcePreflightVerdict =
  | { verdict: 'valid'; kind: SourceKind; warnings?: string[] }
  | { verdict: 'invalid'; reason: string; message: string }
  | { verdict: 'wait'; reason: string; message: string };

/** Turns an error into a verdict: retryable source errors wait, others make the import invalid. */
export function verdictOfError(e: unknown): SourcePreflightVerdict {
  if (e instanceof SourceError)
    return e.retryable
      ? { verdict: 'wait', reason: e.reason, message: e.message }
      : { verdict: 'invalid', reason: e.reason, message: e.message };
  return { verdict: 'wait', reason: 'PreflightError', message: e instanceof Error ? e.message : String(e) };
}

/** Source-specific preflight (upstream §5.2 with its bugs fixed). */
export async function preflightSource(
  kube: Kube,
  kind: SourceKind,
  source: Obj,
  imp: VirtualMachineImport,
): Promise<SourcePreflightVerdict> {
  const spec = imp.spec;
  try {
    switch (kind) {
      case 'VmwareSource': {
        const src = specOf<VmwareSourceSpec>(source);
        const secret = await requiredCredentials(kube, source);
        await preflightVmwareImport(resolveVmwareConnection(src, secret.data, secret.name), src.dc ?? '', {
          name: spec.virtualMachineName ?? '',
          folder: spec.folder,
          networkMapping: spec.networkMapping,
          forcePowerOff: spec.forcePowerOff,
        });
        return { verdict: 'valid', kind };
      }
      case 'OpenstackSource': {
        const src = specOf<OpenstackSourceSpec>(source);
        const secret = await requiredCredentials(kube, source);
        const result = await preflightOpenstackImport(connectionFromSpec(src, secret.data, secret.name), {
          virtualMachineName: spec.virtualMachineName ?? '',
          networkMapping: spec.networkMapping,
          forcePowerOff: spec.forcePowerOff,
        });
        return { verdict: 'valid', kind, warnings: result.warnings };
      }
      case 'OvaSource':
        return { verdict: 'valid', kind };
    }
  } catch (e) {
    return verdictOfError(e);
  }
}

/** The name the source gives the VM: an OpenStack UUID resolves to the server's name. */
export async function sourceVmName(
  kube: Kube,
  kind: SourceKind,
  source: Obj,
  imp: VirtualMachineImport,
): Promise<string> {
  const requested = imp.spec.virtualMachineName ?? '';
  if (kind !== 'OpenstackSource') return requested;
  const src = specOf<OpenstackSourceSpec>(source);
  const secret = await requiredCredentials(kube, source);
  return resolveOpenstackServerName(connectionFromSpec(src, secret.data, secret.name), requested);
}
