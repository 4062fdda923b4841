// Which sources and credentials an import may use (README "Security", "Tenancy"). Pure.
//  1. A source's credentials Secret lives in the source's own namespace: spec.credentials.namespace,
//     when given, must be the source's namespace (otherwise any namespace could name any Secret
//     of the cluster and have it sent to a URL of its choosing).
//  2. An import uses a source of its own namespace, or of another namespace whose source lists the
//     import's namespace (or "*") in the annotation ALLOWED_IMPORT_NAMESPACES_ANNOTATION.
//  3. A Secret is never copied across namespaces, so a source shared that way must not need
//     credentials (an OVA on a plain web server); with credentials, create the source and its
//     Secret in the import's namespace.
// The seeds' sources and imports all live in one namespace and need no annotation.
import { ALLOWED_IMPORT_NAMESPACES_ANNOTATION } from '../labels.ts';
import type { Obj } from '../kube/client.ts';
import { SourceError } from './source-error.ts';

const credentialsRefOf = (o: Obj) =>
  (o.spec as { credentials?: { name?: string | null; namespace?: string | null } | null } | undefined)
    ?.credentials;
const namespaceOf = (o: Obj) => o.metadata?.namespace ?? 'default';
const qualified = (o: Obj) => `${o.kind ?? 'source'} ${namespaceOf(o)}/${o.metadata?.name ?? ''}`;

/** Rule 1: CredentialsNamespaceNotAllowed when spec.credentials names another namespace. */
export function checkCredentialsNamespace(source: Obj): void {
  const ref = credentialsRefOf(source);
  if (!ref?.name || !ref.namespace || ref.namespace === namespaceOf(source)) return;
  throw new SourceError(
    'CredentialsNamespaceNotAllowed',
    `${qualified(source)} names Secret ${ref.namespace}/${ref.name} in spec.credentials; a source may only use a Secret of its own namespace "${namespaceOf(source)}": create the Secret there`,
  );
}

/** The namespaces a source is shared with (rule 2). */
export function sharedWith(source: Obj): { all: boolean; namespaces: Set<string> } {
  const raw = source.metadata?.annotations?.[ALLOWED_IMPORT_NAMESPACES_ANNOTATION] ?? '';
  const items = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return { all: items.includes('*'), namespaces: new Set(items) };
}

/** Rules 1-3 for an import in `importNamespace` using `source`. */
export function checkImportMayUse(source: Obj, importNamespace: string): void {
  checkCredentialsNamespace(source);
  if (namespaceOf(source) === importNamespace) return;
  const shared = sharedWith(source);
  if (!shared.all && !shared.namespaces.has(importNamespace)) {
    throw new SourceError(
      'SourceNotShared',
      `${qualified(source)} is in another namespace and does not list "${importNamespace}" in its annotation ${ALLOWED_IMPORT_NAMESPACES_ANNOTATION}; ask its owner to add it, or create a source in "${importNamespace}"`,
    );
  }
  if (credentialsRefOf(source)?.name) {
    throw new SourceError(
      'CredentialsNotShared',
      `${qualified(source)} uses a credentials Secret, and Secrets are never copied to another namespace; create the source and its Secret in "${importNamespace}"`,
    );
  }
}
