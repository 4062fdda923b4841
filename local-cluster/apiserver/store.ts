// The object store: Kubernetes storage semantics (resourceVersion, generation, finalizers,
// status subresource, schema processing, watches) in memory. The HTTP layer and in-process
// callers share it.
import { randomUUID } from 'node:crypto';
import { fromStorage, storageFieldPath, toStorage } from './conversion.ts';
import { establishedStatus, isEstablished, validateCrd } from './crd.ts';
import { defaultPropagationPolicy, prepareBuiltinCreate } from './defaults.ts';
import type { Qualified, StatusCause } from './errors.ts';
import {
  ApiError,
  alreadyExists,
  badRequest,
  conflict,
  forbidden,
  gone,
  invalid,
  notFound,
} from './errors.ts';
import { GarbageCollector } from './gc.ts';
import type { Change, ChangeType } from './history.ts';
import { ChangeHistory } from './history.ts';
import { generateNameSuffix, now, validateName, validateObjectMeta } from './names.ts';
import { jsonPatch, mergePatch, serverSideApply, strategicMergePatch } from './patch.ts';
import type { Registry } from './registry.ts';
import { resourcesFromCrd } from './registry.ts';
import type { Selector } from './selectors.ts';
import { matches, parseFieldSelector, parseLabelSelector } from './selectors.ts';
import type { KubeObject, ResourceInfo } from './types.ts';
import { apiVersionOf, canonicalJson, clone } from './types.ts';
import { processCustomResource, prune } from './validation.ts';
import { builtinSchema } from './builtin-schemas.ts';
import { defaultWorkload, labelJob, validateWorkload } from './workloads.ts';

export type ResourceRef = ResourceInfo | { apiVersion: string; kind: string };
export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';
export type PropagationPolicy = 'Background' | 'Foreground' | 'Orphan';
export type PatchType = 'merge' | 'json' | 'strategic' | 'apply';

export interface WriteOptions {
  dryRun?: boolean;
  fieldValidation?: FieldValidation;
  subresource?: 'status';
  /** Who makes the change; server-side apply remembers what each manager applied. */
  fieldManager?: string;
  /** Warnings (e.g. pruned unknown fields) are appended here. */
  warnings?: string[];
}

export interface DeleteOptions {
  propagationPolicy?: PropagationPolicy;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
}

export interface WatchOptions extends ListOptions {
  /** '' or '0' start with the current objects as ADDED events; otherwise resume after it. */
  resourceVersion?: string;
  sendInitialEvents?: boolean;
}

export interface WatchEvent {
  type: ChangeType;
  object: KubeObject;
}

export interface ObjectList {
  apiVersion: string;
  kind: string;
  metadata: { resourceVersion: string; continue?: string; remainingItemCount?: number };
  items: KubeObject[];
}

export interface Watch {
  stop(): void;
}

interface Watcher {
  /** Changes up to this resourceVersion were delivered when the watch started. */
  startRv: number;
  storageKey: string;
  info: ResourceInfo;
  selector: Selector;
  onEvent: (event: WatchEvent) => void;
}

const FOREGROUND = 'foregroundDeletion';
const ORPHAN = 'orphan';

function objectKey(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

function qualified(info: ResourceInfo): Qualified {
  return { group: info.group, resource: info.resource, kind: info.kind };
}

function withoutMetaAndStatus(obj: KubeObject, dropStatus: boolean): string {
  const { metadata: _m, status, ...rest } = obj;
  return canonicalJson(dropStatus ? rest : { ...rest, status });
}

export class ObjectStore {
  private readonly data = new Map<string, Map<string, KubeObject>>();
  private readonly byUid = new Map<string, { storageKey: string; key: string }>();
  private readonly history: ChangeHistory;
  private readonly watchers = new Set<Watcher>();
  private readonly gc: GarbageCollector;
  /** Last server-side-applied configuration per object uid and field manager. */
  private readonly appliedConfigs = new Map<string, Map<string, unknown>>();
  private rv = 0;
  private readonly undelivered: Change[] = [];
  private dispatching = false;

  constructor(
    readonly registry: Registry,
    opts: { historyLimit?: number } = {},
  ) {
    this.history = new ChangeHistory(opts.historyLimit ?? 1000);
    this.gc = new GarbageCollector(this);
  }

  /** The resource served for a GVR/GVK reference, or 404 like a request to an unknown path. */
  resolve(ref: ResourceRef): ResourceInfo {
    if ('resource' in ref) return ref;
    const info = this.registry.byKind(ref.apiVersion, ref.kind);
    if (!info)
      throw new ApiError(
        404,
        'NotFound',
        `the server could not find the requested resource (kind ${ref.kind} in ${ref.apiVersion})`,
      );
    return info;
  }

  currentResourceVersion(): string {
    return String(this.rv);
  }

  /** Waits until queued garbage collection and namespace cleanup have run. */
  settled(): Promise<void> {
    return this.gc.idle();
  }

  // ---- reads ----

  get(ref: ResourceRef, namespace: string | undefined, name: string): KubeObject {
    const info = this.resolve(ref);
    const obj = this.bucket(info).get(objectKey(info.namespaced ? namespace : undefined, name));
    if (!obj) throw notFound(qualified(info), name);
    return this.present(info, obj);
  }

  list(ref: ResourceRef, opts: ListOptions = {}): ObjectList {
    const info = this.resolve(ref);
    const selector = this.selector(info, opts);
    const all = [...this.bucket(info).entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    let start = 0;
    if (opts.continue) {
      let token: { start?: string };
      try {
        token = JSON.parse(Buffer.from(opts.continue, 'base64url').toString('utf8')) as { start?: string };
      } catch {
        throw badRequest('invalid continue token');
      }
      start = all.findIndex(([key]) => key > (token.start ?? ''));
      if (start < 0) start = all.length;
    }
    const items: KubeObject[] = [];
    let lastKey: string | undefined;
    let i = start;
    for (; i < all.length; i++) {
      const [key, obj] = all[i] as [string, KubeObject];
      if (!matches(selector, obj)) continue;
      if (opts.limit && items.length >= opts.limit) break;
      items.push(this.present(info, obj));
      lastKey = key;
    }
    const metadata: ObjectList['metadata'] = { resourceVersion: String(this.rv) };
    if (i < all.length && lastKey !== undefined) {
      const rest = all.slice(i).filter(([, o]) => matches(selector, o)).length;
      if (rest > 0) {
        metadata.continue = Buffer.from(JSON.stringify({ start: lastKey })).toString('base64url');
        metadata.remainingItemCount = rest;
      }
    }
    return { apiVersion: apiVersionOf(info), kind: info.listKind, metadata, items };
  }

  watch(ref: ResourceRef, opts: WatchOptions, onEvent: (event: WatchEvent) => void): Watch {
    const info = this.resolve(ref);
    const selector = this.selector(info, opts);
    const rvText = opts.resourceVersion ?? '';
    const initial: WatchEvent[] = [];
    if (rvText === '' || rvText === '0' || opts.sendInitialEvents) {
      for (const obj of this.bucket(info).values()) {
        if (matches(selector, obj)) initial.push({ type: 'ADDED', object: this.present(info, obj) });
      }
    } else {
      const from = Number(rvText);
      if (!Number.isInteger(from) || from < 0) throw badRequest(`invalid resource version: ${rvText}`);
      const changes = this.history.since(from, info.storageKey);
      if (!changes) throw gone(`too old resource version: ${from} (${this.history.compactedRv})`);
      for (const change of changes) {
        const event = this.eventFor(info, selector, change);
        if (event) initial.push(event);
      }
    }
    const watcher: Watcher = { startRv: this.rv, storageKey: info.storageKey, info, selector, onEvent };
    for (const event of initial) onEvent(event);
    this.watchers.add(watcher);
    return { stop: () => this.watchers.delete(watcher) };
  }

  // ---- writes ----

  create(ref: ResourceRef, body: KubeObject, opts: WriteOptions = {}): KubeObject {
    const info = this.resolve(ref);
    const typed = clone(body);
    this.checkTypeMeta(info, typed);
    const obj = toStorage(info, typed);
    const meta = (obj.metadata ??= {});
    if (!info.namespaced) delete meta.namespace;
    else if (!meta.namespace)
      throw badRequest('the namespace of the object must be set for a namespaced resource');
    if (!meta.name && meta.generateName) meta.name = `${meta.generateName}${generateNameSuffix()}`;
    if (!meta.name) {
      throw invalid(qualified(info), '', [
        {
          reason: 'FieldValueRequired',
          field: 'metadata.name',
          message: 'Required value: name or generateName is required',
        },
      ]);
    }
    const name = meta.name;
    if (info.namespaced) this.checkNamespaceAccepts(info, meta.namespace as string, name);
    if (info.statusSubresource) delete obj['status'];
    if (!info.crd) {
      prepareBuiltinCreate(obj);
      defaultWorkload(obj);
    }
    this.normalize(obj);
    this.admit(info, obj, opts, undefined);
    const bucket = this.bucket(info);
    const key = objectKey(meta.namespace, name);
    if (bucket.has(key)) throw alreadyExists(qualified(info), name);
    meta.uid = randomUUID();
    labelJob(obj);
    meta.creationTimestamp = now();
    meta.generation = 1;
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    delete meta.managedFields;
    delete meta.selfLink;
    if (opts.dryRun)
      return this.present(info, { ...obj, metadata: { ...meta, resourceVersion: String(this.rv) } });
    const stored = this.commit(info, 'ADDED', obj, undefined);
    this.afterWrite(info, stored);
    return this.present(info, stored);
  }

  update(ref: ResourceRef, body: KubeObject, opts: WriteOptions = {}): KubeObject {
    const info = this.resolve(ref);
    const typed = clone(body);
    this.checkTypeMeta(info, typed);
    const incoming = toStorage(info, typed);
    const meta = incoming.metadata ?? {};
    const name = meta.name;
    if (!name) throw badRequest('name is required for an update');
    const key = objectKey(info.namespaced ? meta.namespace : undefined, name);
    const existing = this.bucket(info).get(key);
    if (!existing) throw notFound(qualified(info), name);
    if (opts.subresource === 'status' && !info.statusSubresource) throw notFound(qualified(info), name);
    if (meta.resourceVersion) {
      if (meta.resourceVersion !== existing.metadata.resourceVersion) {
        throw conflict(
          qualified(info),
          name,
          'the object has been modified; please apply your changes to the latest version and try again',
        );
      }
    } else if (info.crd) {
      throw invalid(qualified(info), name, [
        {
          reason: 'FieldValueInvalid',
          field: 'metadata.resourceVersion',
          message: 'Invalid value: 0x0: must be specified for an update',
        },
      ]);
    }
    if (meta.uid && meta.uid !== existing.metadata.uid) {
      throw conflict(
        qualified(info),
        name,
        `Precondition failed: UID in precondition: ${meta.uid}, UID in object meta: ${existing.metadata.uid}`,
      );
    }

    let next: KubeObject;
    if (opts.subresource === 'status') {
      next = { ...clone(existing), status: incoming['status'] };
      if (incoming['status'] === undefined) delete next['status'];
    } else {
      next = incoming;
      if (info.statusSubresource) {
        if (existing['status'] === undefined) delete next['status'];
        else next['status'] = clone(existing['status']);
      }
      const m = next.metadata;
      m.namespace = existing.metadata.namespace;
      m.uid = existing.metadata.uid;
      m.creationTimestamp = existing.metadata.creationTimestamp;
      m.generation = existing.metadata.generation;
      if (existing.metadata.deletionTimestamp) {
        m.deletionTimestamp = existing.metadata.deletionTimestamp;
        m.deletionGracePeriodSeconds = existing.metadata.deletionGracePeriodSeconds;
        const added = (m.finalizers ?? []).filter((f) => !(existing.metadata.finalizers ?? []).includes(f));
        if (added.length > 0) {
          throw invalid(qualified(info), name, [
            {
              reason: 'FieldValueForbidden',
              field: 'metadata.finalizers',
              message: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{${added.map((f) => JSON.stringify(f)).join(', ')}}`,
            },
          ]);
        }
      } else {
        delete m.deletionTimestamp;
        delete m.deletionGracePeriodSeconds;
      }
      delete m.managedFields;
      delete m.selfLink;
      if (m.generateName === undefined && existing.metadata.generateName)
        m.generateName = existing.metadata.generateName;
    }
    next.metadata.resourceVersion = existing.metadata.resourceVersion;
    this.normalize(next);
    this.admit(info, next, opts, existing);
    const dropStatus = info.statusSubresource;
    if (withoutMetaAndStatus(next, dropStatus) !== withoutMetaAndStatus(existing, dropStatus)) {
      next.metadata.generation = (existing.metadata.generation ?? 1) + 1;
    }
    if (canonicalJson(next) === canonicalJson(existing)) return this.present(info, existing);
    if (opts.dryRun) return this.present(info, next);
    const specFinalizers =
      info.group === '' && info.resource === 'namespaces'
        ? ((next['spec'] as { finalizers?: string[] } | undefined)?.finalizers ?? [])
        : [];
    if (
      next.metadata.deletionTimestamp &&
      (next.metadata.finalizers ?? []).length === 0 &&
      specFinalizers.length === 0
    ) {
      return this.present(info, this.remove(info, next));
    }
    const stored = this.commit(info, 'MODIFIED', next, existing);
    this.afterWrite(info, stored);
    return this.present(info, stored);
  }

  patch(
    ref: ResourceRef,
    namespace: string | undefined,
    name: string,
    type: PatchType,
    patch: unknown,
    opts: WriteOptions = {},
  ): KubeObject {
    const info = this.resolve(ref);
    const key = objectKey(info.namespaced ? namespace : undefined, name);
    const existing = this.bucket(info).get(key);
    if (!existing) {
      if (type === 'apply' && opts.subresource === undefined) {
        const body = clone(patch) as KubeObject;
        body.metadata = { ...body.metadata, name, ...(info.namespaced ? { namespace } : {}) };
        const created = this.create(info, body, opts);
        if (!opts.dryRun) this.rememberApplied(created.metadata.uid as string, opts.fieldManager, patch);
        return created;
      }
      throw notFound(qualified(info), name);
    }
    const current = this.present(info, existing);
    let patched: unknown;
    switch (type) {
      case 'merge':
        patched = mergePatch(current, patch);
        break;
      case 'apply':
        patched = serverSideApply(
          current,
          this.appliedConfigs.get(existing.metadata.uid as string)?.get(opts.fieldManager ?? ''),
          patch,
        );
        break;
      case 'json':
        patched = jsonPatch(current, patch);
        break;
      case 'strategic':
        if (info.crd) {
          throw new ApiError(
            415,
            'UnsupportedMediaType',
            'strategic merge patch is not supported for custom resources',
          );
        }
        patched = strategicMergePatch(current, patch);
        break;
    }
    const obj = patched as KubeObject;
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj))
      throw badRequest('patch did not produce an object');
    obj.metadata = { ...(obj.metadata ?? {}), name, namespace: existing.metadata.namespace };
    if (!info.namespaced) delete obj.metadata.namespace;
    obj.metadata.resourceVersion ??= existing.metadata.resourceVersion;
    const result = this.update(info, obj, opts);
    if (type === 'apply' && !opts.dryRun)
      this.rememberApplied(existing.metadata.uid as string, opts.fieldManager, patch);
    return result;
  }

  delete(
    ref: ResourceRef,
    namespace: string | undefined,
    name: string,
    opts: DeleteOptions = {},
  ): KubeObject {
    const info = this.resolve(ref);
    const existing = this.bucket(info).get(objectKey(info.namespaced ? namespace : undefined, name));
    if (!existing) throw notFound(qualified(info), name);
    const pre = opts.preconditions;
    if (pre?.uid && pre.uid !== existing.metadata.uid) {
      throw conflict(
        qualified(info),
        name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${existing.metadata.uid}`,
      );
    }
    if (pre?.resourceVersion && pre.resourceVersion !== existing.metadata.resourceVersion) {
      throw conflict(
        qualified(info),
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${existing.metadata.resourceVersion}`,
      );
    }
    const policy = opts.propagationPolicy ?? defaultPropagationPolicy(existing);
    const next = clone(existing);
    const finalizers = [...(next.metadata.finalizers ?? [])];
    if (policy === 'Foreground' && !finalizers.includes(FOREGROUND)) finalizers.push(FOREGROUND);
    if (policy === 'Orphan' && !finalizers.includes(ORPHAN)) finalizers.push(ORPHAN);
    const isNamespace = info.group === '' && info.resource === 'namespaces';
    if (finalizers.length === 0 && !isNamespace) {
      if (opts.dryRun) return this.present(info, existing);
      return this.present(info, this.remove(info, existing));
    }
    if (
      existing.metadata.deletionTimestamp &&
      finalizers.length === (existing.metadata.finalizers ?? []).length &&
      !isNamespace
    ) {
      return this.present(info, existing);
    }
    next.metadata.finalizers = finalizers;
    if (finalizers.length === 0) delete next.metadata.finalizers;
    next.metadata.deletionTimestamp ??= now();
    next.metadata.deletionGracePeriodSeconds = 0;
    if (isNamespace) next['status'] = { ...(next['status'] as object), phase: 'Terminating' };
    if (opts.dryRun) return this.present(info, next);
    const stored = this.commit(info, 'MODIFIED', next, existing);
    if (isNamespace) this.gc.finalizeNamespace(name);
    if (policy === 'Orphan') this.gc.orphanDependents(info, stored);
    if (policy === 'Foreground') this.gc.deleteDependentsInForeground(info, stored);
    return this.present(info, stored);
  }

  deleteCollection(ref: ResourceRef, list: ListOptions, opts: DeleteOptions = {}): ObjectList {
    const info = this.resolve(ref);
    const victims = this.list(info, { ...list, limit: undefined, continue: undefined });
    const items = victims.items.map((o) =>
      this.delete(info, o.metadata.namespace, o.metadata.name as string, opts),
    );
    return { ...victims, items };
  }

  // ---- in-process helpers for the garbage collector ----

  /** Every stored object (raw, with its resource), optionally limited to one namespace. */
  *entries(namespace?: string): Generator<{ info: ResourceInfo; obj: KubeObject }> {
    for (const [storageKey, bucket] of this.data) {
      const info = this.registry.byStorageKey(storageKey)[0];
      if (!info) continue;
      for (const obj of bucket.values()) {
        if (namespace === undefined || obj.metadata.namespace === namespace) yield { info, obj };
      }
    }
  }

  existsUid(uid: string): boolean {
    return this.byUid.has(uid);
  }

  // ---- internals ----

  private rememberApplied(uid: string, manager: string | undefined, applied: unknown): void {
    let byManager = this.appliedConfigs.get(uid);
    if (!byManager) this.appliedConfigs.set(uid, (byManager = new Map()));
    byManager.set(manager ?? '', clone(applied));
  }

  private bucket(info: ResourceInfo): Map<string, KubeObject> {
    let b = this.data.get(info.storageKey);
    if (!b) this.data.set(info.storageKey, (b = new Map()));
    return b;
  }

  private present(info: ResourceInfo, obj: KubeObject): KubeObject {
    const out = fromStorage(info, clone(obj));
    out.apiVersion = apiVersionOf(info);
    out.kind = info.kind;
    return out;
  }

  private selector(info: ResourceInfo, opts: ListOptions): Selector {
    return {
      labels: parseLabelSelector(opts.labelSelector),
      fields: parseFieldSelector(opts.fieldSelector).map((f) => ({
        ...f,
        field: storageFieldPath(info, f.field),
      })),
      ...(info.namespaced && opts.namespace ? { namespace: opts.namespace } : {}),
    };
  }

  private checkTypeMeta(info: ResourceInfo, obj: KubeObject): void {
    const expected = apiVersionOf(info);
    if (obj.kind && obj.kind !== info.kind) {
      throw badRequest(`the kind in the data (${obj.kind}) does not match the expected kind (${info.kind})`);
    }
    if (obj.apiVersion && obj.apiVersion !== expected) {
      const other = this.registry.byKind(obj.apiVersion, info.kind);
      if (!other || other.storageKey !== info.storageKey) {
        throw badRequest(
          `the API version in the data (${obj.apiVersion}) does not match the expected API version (${expected})`,
        );
      }
    }
    obj.apiVersion = expected;
    obj.kind = info.kind;
    if (obj.metadata !== undefined && (obj.metadata === null || typeof obj.metadata !== 'object')) {
      throw badRequest('metadata must be an object');
    }
  }

  private checkNamespaceAccepts(info: ResourceInfo, namespace: string, name: string): void {
    const ns = this.data.get('/namespaces')?.get(objectKey(undefined, namespace));
    if (!ns) throw notFound({ group: '', resource: 'namespaces', kind: 'Namespace' }, namespace);
    if (ns.metadata.deletionTimestamp) {
      throw forbidden(
        qualified(info),
        name,
        `unable to create new content in namespace ${namespace} because it is being terminated`,
      );
    }
  }

  /** Server-side decoding rules and normalisation of built-ins (Secret.stringData folds into data). */
  private normalize(obj: KubeObject): void {
    const eventTime = obj['eventTime'];
    if (obj.kind === 'Event' && eventTime !== undefined && eventTime !== null) {
      // MicroTime decodes only with exactly six fractional digits, as in Go's RFC3339Micro layout
      if (
        typeof eventTime !== 'string' ||
        !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$/.test(eventTime)
      ) {
        throw badRequest(
          `Event in version "v1" cannot be handled as a Event: parsing time ${JSON.stringify(String(eventTime))} as "2006-01-02T15:04:05.000000Z07:00": eventTime must be RFC 3339 with microseconds`,
        );
      }
    }
    if (
      obj.apiVersion === 'v1' &&
      obj.kind === 'Secret' &&
      obj['stringData'] &&
      typeof obj['stringData'] === 'object'
    ) {
      const data = { ...((obj['data'] as Record<string, string> | undefined) ?? {}) };
      for (const [k, v] of Object.entries(obj['stringData'] as Record<string, string>)) {
        data[k] = Buffer.from(String(v), 'utf8').toString('base64');
      }
      obj['data'] = data;
      delete obj['stringData'];
    }
  }

  /** Name rules, CRD checks, and structural-schema pruning/defaulting/validation. */
  private admit(
    info: ResourceInfo,
    obj: KubeObject,
    opts: WriteOptions,
    existing: KubeObject | undefined,
  ): void {
    const name = obj.metadata.name as string;
    const causes: StatusCause[] = [];
    if (!existing) {
      const dnsLabel = info.group === '' && (info.resource === 'namespaces' || info.resource === 'services');
      causes.push(...validateName(name, dnsLabel));
    }
    causes.push(...validateObjectMeta(obj.metadata));
    if (!info.crd) causes.push(...validateWorkload(obj));
    const builtin = builtinSchema(info);
    if (info.crd || builtin) {
      const { unknownFields, causes: schemaCauses } = info.crd
        ? processCustomResource(obj, info.schema)
        : { unknownFields: prune(obj, builtin), causes: [] };
      if (unknownFields.length > 0) {
        const list = unknownFields.map((f) => `unknown field "${f}"`);
        if (opts.fieldValidation === 'Strict') {
          throw badRequest(
            `${info.kind} in version "${info.version}" cannot be handled as a ${info.kind}: strict decoding error: ${list.join(', ')}`,
          );
        }
        if (opts.fieldValidation !== 'Ignore') opts.warnings?.push(...list);
      }
      causes.push(...schemaCauses);
    }
    if (info.group === 'apiextensions.k8s.io' && info.resource === 'customresourcedefinitions') {
      causes.push(...validateCrd(obj));
      const spec = obj['spec'] as { names?: { plural?: string } } | undefined;
      if (existing && causes.length === 0) {
        const oldPlural = (existing['spec'] as { names?: { plural?: string } }).names?.plural;
        if (spec?.names?.plural !== oldPlural) {
          causes.push({
            reason: 'FieldValueInvalid',
            field: 'spec.names.plural',
            message: 'Invalid value: field is immutable',
          });
        }
      }
    }
    if (causes.length > 0) throw invalid(qualified(info), name, causes);
  }

  private commit(
    info: ResourceInfo,
    type: ChangeType,
    obj: KubeObject,
    previous: KubeObject | undefined,
  ): KubeObject {
    this.rv++;
    const stored = clone(obj);
    stored.metadata.resourceVersion = String(this.rv);
    const key = objectKey(stored.metadata.namespace, stored.metadata.name as string);
    const bucket = this.bucket(info);
    if (type === 'DELETED') {
      bucket.delete(key);
      this.byUid.delete(stored.metadata.uid as string);
    } else {
      bucket.set(key, stored);
      this.byUid.set(stored.metadata.uid as string, { storageKey: info.storageKey, key });
    }
    const change: Change = {
      rv: this.rv,
      type,
      storageKey: info.storageKey,
      object: stored,
      ...(previous ? { previous } : {}),
    };
    this.history.append(change);
    this.dispatch(change);
    return stored;
  }

  /**
   * Delivers changes to watchers in resourceVersion order. An in-process watcher that writes from
   * its callback queues its change behind the one being delivered instead of overtaking it.
   */
  private dispatch(change: Change): void {
    this.undelivered.push(change);
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      for (let c = this.undelivered.shift(); c; c = this.undelivered.shift()) {
        for (const w of this.watchers) {
          if (w.storageKey !== c.storageKey || c.rv <= w.startRv) continue;
          const event = this.eventFor(w.info, w.selector, c);
          if (!event) continue;
          try {
            w.onEvent(event);
          } catch (err) {
            // a failing in-process watcher must not fail the write nor starve the other watchers
            console.error('apiserver: watch callback failed:', err);
          }
        }
      }
    } finally {
      this.dispatching = false;
    }
  }

  /** Removes an object for good (no finalizers left) and queues garbage collection. */
  private remove(info: ResourceInfo, obj: KubeObject): KubeObject {
    const removed = this.commit(info, 'DELETED', obj, undefined);
    this.appliedConfigs.delete(removed.metadata.uid as string);
    if (info.group === 'apiextensions.k8s.io' && info.resource === 'customresourcedefinitions') {
      const crdName = removed.metadata.name as string;
      const served = this.registry.all().find((r) => r.crd === crdName);
      this.registry.removeCrd(crdName);
      if (served) this.data.delete(served.storageKey);
    }
    this.gc.objectRemoved(removed);
    return removed;
  }

  /** Reacts to writes that other controllers would handle: CRD registration and establishment. */
  private afterWrite(info: ResourceInfo, stored: KubeObject): void {
    if (info.group === 'apiextensions.k8s.io' && info.resource === 'customresourcedefinitions') {
      if (stored.metadata.deletionTimestamp) return;
      this.registry.setCrdResources(stored.metadata.name as string, resourcesFromCrd(stored));
      const status = establishedStatus(stored);
      const current = stored['status'] as { acceptedNames?: unknown; storedVersions?: unknown } | undefined;
      const sameNames = JSON.stringify(current?.acceptedNames) === JSON.stringify(status['acceptedNames']);
      const sameStored = JSON.stringify(current?.storedVersions) === JSON.stringify(status['storedVersions']);
      if (!isEstablished(stored) || !sameNames || !sameStored) {
        this.commit(info, 'MODIFIED', { ...clone(stored), status }, stored);
      }
    }
  }

  private eventFor(info: ResourceInfo, selector: Selector, change: Change): WatchEvent | undefined {
    const nowMatches = matches(selector, change.object);
    if (change.type === 'MODIFIED' && change.previous) {
      const before = matches(selector, change.previous);
      if (before && !nowMatches) return { type: 'DELETED', object: this.present(info, change.object) };
      if (!before && nowMatches) return { type: 'ADDED', object: this.present(info, change.object) };
    }
    if (!nowMatches) return undefined;
    return { type: change.type, object: this.present(info, change.object) };
  }
}
