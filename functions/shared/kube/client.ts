// The one Kubernetes client of the repository: functions, the export Job, the local cluster's
// controllers and the tests. The generic object API of client-node for every kind, the status
// subresource (of our CRDs with optimistic concurrency), and list+watch loops for controllers.
import {
  ApiException,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  Watch,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { listWatch, type ListWatchHandle, type ListWatchOptions, type WatchEventType } from './list-watch.ts';

export type { ListWatchHandle, ListWatchOptions, WatchEventType };

export type Obj = KubernetesObject & { [key: string]: unknown };

/** An object whose spec and status are read as records (the local cluster's controllers). */
export type KubeObject = KubernetesObject & {
  spec?: Record<string, unknown> & object;
  status?: Record<string, unknown> & object;
  [key: string]: unknown;
};

export interface ResourceInfo {
  plural: string;
  namespaced: boolean;
}

/** KubernetesObjectApi plus the status subresource and discovery lookups it keeps protected. */
class ObjectApi extends KubernetesObjectApi {
  static make(config: KubeConfig): ObjectApi {
    const api = config.makeApiClient(ObjectApi);
    api.setDefaultNamespace(config);
    return api;
  }

  async resourceInfo(apiVersion: string, kind: string): Promise<ResourceInfo> {
    const r = await this.resource(apiVersion, kind);
    if (!r) throw new Error(`the API server does not serve ${kind} in ${apiVersion}`);
    return { plural: r.name, namespaced: r.namespaced };
  }

  async replaceStatus<T extends KubernetesObject>(spec: T): Promise<T> {
    const path = `${await this.specUriPath(spec, 'replace')}/status`;
    const ctx = this.configuration.baseServer.makeRequestContext(path, 'PUT' as never);
    ctx.setHeaderParam('Accept', 'application/json');
    ctx.setHeaderParam('Content-Type', 'application/json');
    ctx.setBody(JSON.stringify(spec));
    return this.requestPromise<T>(ctx);
  }
}

export function isApiError(err: unknown, code: number): boolean {
  return err instanceof ApiException && err.code === code;
}

export const isNotFound = (e: unknown): boolean => isApiError(e, 404);
/**
 * 409: a write with a stale resourceVersion (Conflict), or a create of a name that exists
 * (AlreadyExists; an admission webhook's refusal of a duplicate, too). The API server sends all as 409.
 */
export const isConflict = (e: unknown): boolean => isApiError(e, 409);

/** The message of a Kubernetes Status error, for conditions and logs. */
export function apiErrorMessage(e: unknown): string {
  if (e instanceof ApiException) {
    const body = typeof e.body === 'string' ? safeJson(e.body) : e.body;
    const message = (body as { message?: string } | undefined)?.message;
    return `${e.code}: ${message ?? 'Kubernetes API error'}`;
  }
  return e instanceof Error ? e.message : String(e);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { message: text };
  }
}

export class Kube {
  readonly objects: ObjectApi;
  readonly custom: CustomObjectsApi;
  private watcher: Watch | undefined;
  private readonly infoCache = new Map<string, Promise<ResourceInfo>>();

  constructor(readonly config: KubeConfig = Kube.defaultConfig()) {
    this.objects = ObjectApi.make(config);
    this.custom = config.makeApiClient(CustomObjectsApi);
  }

  static fromFile(kubeconfigPath: string): Kube {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath);
    return new Kube(kc);
  }

  get serverUrl(): string {
    const cluster = this.config.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    return cluster.server;
  }

  /** The resource's plural and scope, from discovery (cached; a failed lookup is retried). */
  resourceInfo(apiVersion: string, kind: string): Promise<ResourceInfo> {
    const key = `${apiVersion}/${kind}`;
    let p = this.infoCache.get(key);
    if (!p) {
      p = this.objects.resourceInfo(apiVersion, kind);
      p.catch(() => this.infoCache.delete(key));
      this.infoCache.set(key, p);
    }
    return p;
  }

  async collectionPath(apiVersion: string, kind: string, namespace?: string): Promise<string> {
    const { plural, namespaced } = await this.resourceInfo(apiVersion, kind);
    const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    return namespaced && namespace ? `${base}/namespaces/${namespace}/${plural}` : `${base}/${plural}`;
  }

  /** KUBECONFIG (local cluster, development) or the in-cluster service account. */
  static defaultConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromDefault();
    return kc;
  }

  async get<T extends Obj>(
    apiVersion: string,
    kind: string,
    namespace: string | undefined,
    name: string,
  ): Promise<T> {
    return (await this.objects.read({ apiVersion, kind, metadata: { name, namespace } })) as T;
  }

  /** The object, or undefined when it does not exist. */
  async find<T extends Obj>(
    apiVersion: string,
    kind: string,
    namespace: string | undefined,
    name: string,
  ): Promise<T | undefined> {
    try {
      return await this.get<T>(apiVersion, kind, namespace, name);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async list<T extends Obj>(
    apiVersion: string,
    kind: string,
    namespace?: string,
    labelSelector?: string,
    fieldSelector?: string,
  ): Promise<T[]> {
    return (await this.listVersioned<T>(apiVersion, kind, namespace, labelSelector, fieldSelector)).items;
  }

  /** The list and the resourceVersion to watch from. */
  async listVersioned<T extends Obj>(
    apiVersion: string,
    kind: string,
    namespace?: string,
    labelSelector?: string,
    fieldSelector?: string,
  ): Promise<{ items: T[]; resourceVersion: string }> {
    const list = await this.objects.list(
      apiVersion,
      kind,
      namespace,
      undefined,
      undefined,
      undefined,
      fieldSelector,
      labelSelector,
    );
    return { items: list.items as T[], resourceVersion: list.metadata?.resourceVersion ?? '' };
  }

  async create<T extends Obj>(object: T): Promise<T> {
    return (await this.objects.create(object)) as T;
  }

  /** Creates the object, or returns the existing one of that name (idempotent create). */
  async ensure<T extends Obj>(object: T): Promise<{ object: T; created: boolean }> {
    try {
      return { object: await this.create(object), created: true };
    } catch (e) {
      if (!isConflict(e) || !object.metadata?.name) throw e;
      const existing = await this.get<T>(
        object.apiVersion!,
        object.kind!,
        object.metadata.namespace,
        object.metadata.name,
      );
      return { object: existing, created: false };
    }
  }

  async replace<T extends Obj>(object: T): Promise<T> {
    return (await this.objects.replace(object)) as T;
  }

  async mergePatch<T extends Obj>(object: T): Promise<T> {
    return (await this.objects.patch(
      object,
      undefined,
      undefined,
      'vm-import',
      undefined,
      PatchStrategy.MergePatch,
    )) as T;
  }

  /** Deletes; a missing object is not an error. */
  async delete(
    object: Obj,
    propagationPolicy: 'Background' | 'Foreground' | 'Orphan' = 'Background',
  ): Promise<void> {
    try {
      await this.objects.delete(object, undefined, undefined, undefined, undefined, propagationPolicy);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  /**
   * PUT of the status subresource with the object's resourceVersion: a concurrent writer makes it
   * fail with 409, which callers treat as "a newer event is coming".
   */
  async replaceStatus<T extends Obj>(object: T, plural?: string): Promise<T> {
    // Without the plural (any kind, core ones too), the path comes from discovery.
    if (plural === undefined) return this.objects.replaceStatus<T>(object);
    const [group, version] = object.apiVersion!.split('/') as [string, string];
    return (await this.custom.replaceNamespacedCustomObjectStatus({
      group,
      version,
      namespace: object.metadata!.namespace!,
      plural,
      name: object.metadata!.name!,
      body: object,
    })) as T;
  }

  /**
   * Writes status through the status subresource, or with a full update for kinds whose CRD has
   * none (Harvester's VirtualMachineImage, KubeVirt's VirtualMachineInstance).
   */
  async writeStatus<T extends Obj>(object: T): Promise<T> {
    try {
      return await this.objects.replaceStatus<T>(object);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      return this.replace<T>(object);
    }
  }

  /** A list+watch loop (list-watch.ts) on this client; the watch client is made on first use. */
  listWatch(
    opts: ListWatchOptions,
    handler: (type: WatchEventType, obj: KubeObject) => void,
  ): ListWatchHandle {
    this.watcher ??= new Watch(this.config);
    return listWatch(this, this.watcher, opts, handler);
  }
}
