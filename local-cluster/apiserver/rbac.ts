// RBAC for service-account tokens: Roles, ClusterRoles, RoleBindings and ClusterRoleBindings
// evaluated the way Kubernetes' RBAC authorizer does (apiGroups, resources with `x/status` and
// `*/status` subresources, resourceNames, verbs incl. `*`; no aggregation), the 403 Status it
// returns, the `bind` check on creating bindings, service-account token issuing, and an optional
// log of every decision (which rule of which role, through which binding, allowed a request).
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { ApiError } from './errors.ts';
import type { Identity } from './http.ts';
import type { Route } from './router.ts';
import type { ObjectStore } from './store.ts';
import type { KubeObject, ResourceInfo } from './types.ts';

export type { Identity } from './http.ts';

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs: string[];
  nonResourceURLs?: string[];
}

export type Verb =
  | 'get'
  | 'list'
  | 'watch'
  | 'create'
  | 'update'
  | 'patch'
  | 'delete'
  | 'deletecollection'
  | 'bind'
  | 'escalate';

export interface ResourceAttributes {
  verb: string;
  apiGroup: string;
  resource: string;
  subresource?: string | undefined;
  /** Empty/undefined for cluster-scoped resources and for requests across all namespaces. */
  namespace?: string | undefined;
  name?: string | undefined;
}

export interface RoleRef {
  kind: 'Role' | 'ClusterRole';
  name: string;
  namespace?: string;
}

export interface GrantingRule {
  role: RoleRef;
  /** Index of the rule in the role's `rules`. */
  ruleIndex: number;
  binding: { kind: 'RoleBinding' | 'ClusterRoleBinding'; name: string; namespace?: string };
}

export interface Decision {
  allowed: boolean;
  /** Why: the granting rule, or why nothing matched. */
  reason: string;
  grantedBy?: GrantingRule;
}

/** One line of the decision log (JSON lines). */
export interface DecisionRecord extends ResourceAttributes {
  user: string;
  allowed: boolean;
  grantedBy?: GrantingRule;
}

/** What the authorizer reads: the RBAC objects currently stored. */
export interface RbacSource {
  roles(namespace: string): KubeObject[];
  clusterRoles(): KubeObject[];
  roleBindings(namespace: string): KubeObject[];
  clusterRoleBindings(): KubeObject[];
}

const RBAC = 'rbac.authorization.k8s.io/v1';

/** The RBAC objects of an ObjectStore. */
export function storeRbacSource(store: ObjectStore): RbacSource {
  const list = (kind: string, namespace?: string) =>
    store.list({ apiVersion: RBAC, kind }, namespace ? { namespace } : {}).items;
  return {
    roles: (namespace) => list('Role', namespace),
    clusterRoles: () => list('ClusterRole'),
    roleBindings: (namespace) => list('RoleBinding', namespace),
    clusterRoleBindings: () => list('ClusterRoleBinding'),
  };
}

const SA_PREFIX = 'system:serviceaccount:';

export const serviceAccountUser = (namespace: string, name: string): string =>
  `${SA_PREFIX}${namespace}:${name}`;

/** The identity Kubernetes gives a service-account token (user + its three groups). */
export function serviceAccountIdentity(namespace: string, name: string): Identity {
  return {
    user: serviceAccountUser(namespace, name),
    groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
  };
}

export const isServiceAccount = (identity: Identity): boolean => identity.user.startsWith(SA_PREFIX);

const matchesAny = (list: string[] | undefined, value: string): boolean =>
  !!list && (list.includes('*') || list.includes(value));

// RBAC's ResourceMatches: "*", the combined "resource/subresource", or "*/subresource".
function resourceMatches(rule: PolicyRule, resource: string, subresource: string | undefined): boolean {
  const combined = subresource ? `${resource}/${subresource}` : resource;
  return (rule.resources ?? []).some(
    (r) => r === '*' || r === combined || (!!subresource && r === `*/${subresource}`),
  );
}

/** Does one policy rule allow the request? (Kubernetes' RuleAllows for resource requests.) */
export function ruleAllows(rule: PolicyRule, attrs: ResourceAttributes): boolean {
  if (!matchesAny(rule.verbs, attrs.verb)) return false;
  if (!matchesAny(rule.apiGroups, attrs.apiGroup)) return false;
  if (!resourceMatches(rule, attrs.resource, attrs.subresource)) return false;
  const names = rule.resourceNames ?? [];
  return names.length === 0 || (!!attrs.name && names.includes(attrs.name));
}

interface Subject {
  kind?: string;
  name?: string;
  namespace?: string;
}

/** Kubernetes' appliesToUser: a User, a Group of the user, or a ServiceAccount by namespace/name. */
export function subjectMatches(subject: Subject, identity: Identity, bindingNamespace: string): boolean {
  switch (subject.kind) {
    case 'User':
      return subject.name === identity.user;
    case 'Group':
      return !!subject.name && (identity.groups ?? []).includes(subject.name);
    case 'ServiceAccount': {
      const ns = subject.namespace || bindingNamespace;
      return !!ns && identity.user === serviceAccountUser(ns, subject.name ?? '');
    }
    default:
      return false;
  }
}

interface Binding {
  kind: 'RoleBinding' | 'ClusterRoleBinding';
  object: KubeObject;
}

function rulesOf(role: KubeObject | undefined): PolicyRule[] {
  return ((role?.['rules'] as PolicyRule[] | undefined) ?? []).filter(Boolean);
}

/**
 * Walks the bindings that apply to the request (ClusterRoleBindings everywhere, RoleBindings of
 * the request's namespace) and returns the first rule that allows it.
 */
export function authorize(source: RbacSource, identity: Identity, attrs: ResourceAttributes): Decision {
  if ((identity.groups ?? []).includes('system:masters')) return { allowed: true, reason: 'system:masters' };
  const bindings: Binding[] = source
    .clusterRoleBindings()
    .map((object) => ({ kind: 'ClusterRoleBinding' as const, object }));
  if (attrs.namespace)
    bindings.push(
      ...source.roleBindings(attrs.namespace).map((object) => ({ kind: 'RoleBinding' as const, object })),
    );
  for (const { kind, object } of bindings) {
    const bindingNamespace = object.metadata.namespace ?? '';
    const subjects = (object['subjects'] as Subject[] | undefined) ?? [];
    if (!subjects.some((s) => subjectMatches(s, identity, bindingNamespace))) continue;
    const ref = object['roleRef'] as { kind?: string; name?: string } | undefined;
    if (!ref?.name) continue;
    let role: KubeObject | undefined;
    let roleRef: RoleRef;
    if (ref.kind === 'ClusterRole') {
      role = source.clusterRoles().find((r) => r.metadata.name === ref.name);
      roleRef = { kind: 'ClusterRole', name: ref.name };
    } else if (ref.kind === 'Role' && kind === 'RoleBinding') {
      role = source.roles(bindingNamespace).find((r) => r.metadata.name === ref.name);
      roleRef = { kind: 'Role', name: ref.name, namespace: bindingNamespace };
    } else continue;
    const rules = rulesOf(role);
    const ruleIndex = rules.findIndex((rule) => ruleAllows(rule, attrs));
    if (ruleIndex < 0) continue;
    const grantedBy: GrantingRule = {
      role: roleRef,
      ruleIndex,
      binding: {
        kind,
        name: object.metadata.name ?? '',
        ...(kind === 'RoleBinding' ? { namespace: bindingNamespace } : {}),
      },
    };
    const where = kind === 'RoleBinding' ? `RoleBinding "${bindingNamespace}/` : 'ClusterRoleBinding "';
    return {
      allowed: true,
      reason: `RBAC: allowed by ${where}${object.metadata.name}" of ${roleRef.kind} "${ref.name}"`,
      grantedBy,
    };
  }
  return { allowed: false, reason: '' };
}

/** The 403 Status Kubernetes returns (apiserver's forbiddenMessage + errors.NewForbidden). */
export function forbidden(identity: Identity, attrs: ResourceAttributes): ApiError {
  const resource = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
  const scope = attrs.namespace ? `in the namespace "${attrs.namespace}"` : 'at the cluster scope';
  const why = `User "${identity.user}" cannot ${attrs.verb} resource "${resource}" in API group "${attrs.apiGroup}" ${scope}`;
  const qualified = attrs.apiGroup ? `${attrs.resource}.${attrs.apiGroup}` : attrs.resource;
  const message = attrs.name
    ? `${qualified} "${attrs.name}" is forbidden: ${why}`
    : `${qualified} is forbidden: ${why}`;
  return new ApiError(403, 'Forbidden', message, {
    ...(attrs.name ? { name: attrs.name } : {}),
    group: attrs.apiGroup,
    kind: attrs.resource,
  });
}

/** The verb of an HTTP request on a resource path, as Kubernetes' RequestInfoFactory derives it. */
export function verbOf(method: string, named: boolean, watch: boolean): string {
  switch (method) {
    case 'GET':
    case 'HEAD':
      return watch ? 'watch' : named ? 'get' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return named ? 'delete' : 'deletecollection';
    default:
      return method.toLowerCase();
  }
}

/** The authorization attributes of a resource request (name from a `metadata.name=` field selector too). */
export function requestAttributes(
  r: Extract<Route, { type: 'resource' }>,
  info: ResourceInfo,
  url: URL,
  method: string,
): ResourceAttributes {
  const q = url.searchParams;
  const watch = r.watchPath || q.get('watch') === 'true' || q.get('watch') === '1';
  let name = r.name;
  if (name === undefined && (method === 'GET' || method === 'HEAD')) {
    const selected = /(?:^|,)metadata\.name==?([^,]+)/.exec(q.get('fieldSelector') ?? '');
    if (selected) name = selected[1];
  }
  return {
    verb: verbOf(method, r.name !== undefined, watch),
    apiGroup: r.group,
    resource: r.resource,
    subresource: r.subresource,
    namespace: info.namespaced ? r.namespace : undefined,
    name,
  };
}

export interface AuthorizerOptions {
  /** Appends one JSON line (DecisionRecord) per service-account decision. */
  decisionLogFile?: string;
}

/** Authorizes service-account requests; every other identity (admin, other tokens) is unaffected. */
export class RbacAuthorizer {
  constructor(
    private readonly source: RbacSource,
    private readonly options: AuthorizerOptions = {},
  ) {}

  /** Throws the Forbidden Status when RBAC denies a service account the request. */
  check(identity: Identity, attrs: ResourceAttributes): void {
    if (!isServiceAccount(identity)) return;
    const decision = authorize(this.source, identity, attrs);
    this.record(identity, attrs, decision);
    if (!decision.allowed) throw forbidden(identity, attrs);
  }

  /**
   * Kubernetes' escalation check of a binding write: the user needs `bind` on the roleRef's role
   * (the alternative "already holds every permission of the role" is not evaluated here).
   */
  checkBinding(
    identity: Identity,
    info: ResourceInfo,
    binding: KubeObject,
    namespace: string | undefined,
  ): void {
    if (!isServiceAccount(identity) || info.group !== 'rbac.authorization.k8s.io') return;
    if (info.resource !== 'rolebindings' && info.resource !== 'clusterrolebindings') return;
    const ref = binding['roleRef'] as { kind?: string; name?: string } | undefined;
    const resource = ref?.kind === 'ClusterRole' ? 'clusterroles' : 'roles';
    const attrs: ResourceAttributes = {
      verb: 'bind',
      apiGroup: 'rbac.authorization.k8s.io',
      resource,
      namespace,
      name: ref?.name ?? '',
    };
    const decision = authorize(this.source, identity, attrs);
    this.record(identity, attrs, decision);
    if (decision.allowed) return;
    const kind = binding.kind === 'ClusterRoleBinding' ? 'clusterrolebindings' : 'rolebindings';
    const qualified = `${kind}.rbac.authorization.k8s.io`;
    const name = binding.metadata?.name ?? '';
    throw new ApiError(
      403,
      'Forbidden',
      `${qualified} "${name}" is forbidden: user "${identity.user}" (groups=${JSON.stringify(identity.groups ?? [])}) is attempting to grant RBAC permissions not currently held; it needs the "bind" verb on ${resource} "${ref?.name ?? ''}"`,
      { name, group: 'rbac.authorization.k8s.io', kind },
    );
  }

  private record(identity: Identity, attrs: ResourceAttributes, decision: Decision): void {
    if (!this.options.decisionLogFile) return;
    const line: DecisionRecord = {
      user: identity.user,
      verb: attrs.verb,
      apiGroup: attrs.apiGroup,
      resource: attrs.resource,
      ...(attrs.subresource ? { subresource: attrs.subresource } : {}),
      ...(attrs.namespace ? { namespace: attrs.namespace } : {}),
      ...(attrs.name ? { name: attrs.name } : {}),
      allowed: decision.allowed,
      ...(decision.grantedBy ? { grantedBy: decision.grantedBy } : {}),
    };
    appendFileSync(this.options.decisionLogFile, `${JSON.stringify(line)}\n`);
  }
}

/** Bearer tokens of service accounts, issued by the API server (random, opaque, revocable). */
export class ServiceAccountTokens {
  constructor(private readonly tokens: Map<string, Identity>) {}

  issue(namespace: string, name: string): string {
    const token = `sa.${randomBytes(24).toString('hex')}`;
    this.tokens.set(token, serviceAccountIdentity(namespace, name));
    return token;
  }
}
