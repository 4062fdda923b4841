// What an adapter is handed, read from the Kubernetes API: the source object and its credentials
// Secret (decoded, never logged). The export Job builds the same from its mounted Secret.
import type { SourceKind, VirtualMachineImport } from '../api/index.ts';
import { isNotFound, type Kube, type Obj } from '../kube/client.ts';
import type { Credentials, SourceObject, SourceTarget } from './adapter.ts';
import { SourceError } from './source-error.ts';
import { checkCredentialsNamespace, checkImportMayUse } from './tenancy.ts';

export interface SecretRef {
  name?: string | null;
  namespace?: string | null;
}

/** The Secret a source object names in spec.credentials, if any. */
export const credentialsRefOf = (source: Obj): SecretRef | null | undefined =>
  (source.spec as { credentials?: SecretRef | null } | undefined)?.credentials;

/** The Secret's data, base64-decoded. Missing Secret → retryable SourceError (it may come later). */
export async function readSecretData(
  kube: Kube,
  ref: SecretRef | null | undefined,
  defaultNamespace: string,
): Promise<Credentials | undefined> {
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
        { retryable: true },
      );
    throw e;
  }
}

/** The source object with its credentials read from the API. */
export async function sourceObjectOf(kube: Kube, kind: SourceKind, source: Obj): Promise<SourceObject> {
  checkCredentialsNamespace(source);
  const credentials = await readSecretData(
    kube,
    credentialsRefOf(source),
    source.metadata?.namespace ?? 'default',
  );
  return { kind, source, ...(credentials ? { credentials } : {}) };
}

export async function sourceTargetOf(
  kube: Kube,
  kind: SourceKind,
  source: Obj,
  vmImport: VirtualMachineImport,
): Promise<SourceTarget> {
  checkImportMayUse(source, vmImport.metadata.namespace ?? 'default');
  return { ...(await sourceObjectOf(kube, kind, source)), vmImport };
}

/** The credentials a source needs; MissingCredentials when spec.credentials names none. */
export function requiredCredentials(t: SourceObject): Credentials {
  if (!t.credentials)
    throw new SourceError(
      'MissingCredentials',
      'spec.credentials of the source must name the Secret with the credentials',
    );
  return t.credentials;
}

/** The source object's spec, as the adapter's schema types it. */
export const specOf = <T>(t: SourceObject): T => (t.source.spec ?? {}) as T;
