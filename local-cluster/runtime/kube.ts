// Access to the embedded API server through @kubernetes/client-node, for every runtime
// controller: generic CRUD by apiVersion/kind, the status subresource, and list+watch loops.
import {
  ApiException,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  Watch,
  type KubernetesObject,
} from '@kubernetes/client-node';

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

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ListWatchOptions {
  apiVersion: string;
  kind: string;
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Deliver the objects found by each (re)list as ADDED (controllers) or not at all (ApiServerSource). */
  emitListed: boolean;
}

export interface ListWatchHandle {
  stop(): void;
  /** Resolves after the first list has been read and the watch is open. */
  ready: Promise<void>;
}

export class Kube {
  readonly objects: ObjectApi;
  private readonly watcher: Watch;
  private readonly infoCache = new Map<string, Promise<ResourceInfo>>();

  constructor(readonly kc: KubeConfig) {
    this.objects = kc.makeApiClient(ObjectApi);
    this.watcher = new Watch(kc);
  }

  static fromFile(kubeconfigPath: string): Kube {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath);
    return new Kube(kc);
  }

  get serverUrl(): string {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    return cluster.server;
  }

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

  async list<T extends KubeObject = KubeObject>(
    apiVersion: string,
    kind: string,
    namespace?: string,
    labelSelector?: string,
    fieldSelector?: string,
  ): Promise<{ items: T[]; resourceVersion: string }> {
    const res = await this.objects.list<T>(
      apiVersion,
      kind,
      namespace,
      undefined,
      undefined,
      undefined,
      fieldSelector,
      labelSelector,
    );
    return { items: res.items, resourceVersion: res.metadata?.resourceVersion ?? '' };
  }

  async get<T extends KubeObject = KubeObject>(
    apiVersion: string,
    kind: string,
    name: string,
    namespace?: string,
  ): Promise<T | undefined> {
    try {
      return await this.objects.read<T>({ apiVersion, kind, metadata: { name, namespace } } as never);
    } catch (err) {
      if (isApiError(err, 404)) return undefined;
      throw err;
    }
  }

  create<T extends KubeObject>(obj: T): Promise<T> {
    return this.objects.create<T>(obj);
  }

  /** Creates the object, or leaves an existing one as it is. */
  async ensure<T extends KubeObject>(obj: T): Promise<T> {
    try {
      return await this.objects.create<T>(obj);
    } catch (err) {
      if (!isApiError(err, 409)) throw err;
      const existing = await this.get<T>(
        obj.apiVersion!,
        obj.kind!,
        obj.metadata!.name!,
        obj.metadata?.namespace,
      );
      if (!existing) throw err;
      return existing;
    }
  }

  mergePatch<T extends KubeObject>(obj: T): Promise<T> {
    return this.objects.patch<T>(
      obj,
      undefined,
      undefined,
      'vm-import-local',
      undefined,
      PatchStrategy.MergePatch,
    );
  }

  replace<T extends KubeObject>(obj: T): Promise<T> {
    return this.objects.replace<T>(obj);
  }

  replaceStatus<T extends KubeObject>(obj: T): Promise<T> {
    return this.objects.replaceStatus<T>(obj);
  }

  /**
   * Writes status through the status subresource, or with a full update for kinds whose CRD has
   * none (Harvester's VirtualMachineImage, KubeVirt's VirtualMachineInstance).
   */
  async writeStatus<T extends KubeObject>(obj: T): Promise<T> {
    try {
      return await this.objects.replaceStatus<T>(obj);
    } catch (err) {
      if (!isApiError(err, 404)) throw err;
      return this.objects.replace<T>(obj);
    }
  }

  async delete(obj: KubeObject, propagationPolicy = 'Background'): Promise<void> {
    try {
      await this.objects.delete(obj, undefined, undefined, undefined, undefined, propagationPolicy);
    } catch (err) {
      if (!isApiError(err, 404)) throw err;
    }
  }

  /**
   * List, then watch from the list's resourceVersion; re-list and re-watch when the watch ends.
   * Like a client-go reflector feeding a store: with `emitListed: false` the listed objects are
   * ignored (Knative's ApiServerSource delegate ignores Replace()).
   */
  listWatch(
    opts: ListWatchOptions,
    handler: (type: WatchEventType, obj: KubeObject) => void,
  ): ListWatchHandle {
    let stopped = false;
    let abort: AbortController | undefined;
    let timer: NodeJS.Timeout | undefined;
    let markReady!: () => void;
    let failReady!: (e: unknown) => void;
    const ready = new Promise<void>((res, rej) => {
      markReady = res;
      failReady = rej;
    });
    let first = true;
    const cycle = async (): Promise<void> => {
      if (stopped) return;
      try {
        const { items, resourceVersion } = await this.list(
          opts.apiVersion,
          opts.kind,
          opts.namespace,
          opts.labelSelector,
          opts.fieldSelector,
        );
        if (opts.emitListed) {
          for (const item of items) {
            item.apiVersion ??= opts.apiVersion;
            item.kind ??= opts.kind;
            handler('ADDED', item);
          }
        }
        const path = await this.collectionPath(opts.apiVersion, opts.kind, opts.namespace);
        if (stopped) return;
        abort = await this.watcher.watch(
          path,
          {
            resourceVersion,
            allowWatchBookmarks: false,
            labelSelector: opts.labelSelector,
            fieldSelector: opts.fieldSelector,
          },
          (phase, obj) => {
            if (phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED')
              handler(phase, obj as KubeObject);
          },
          () => {
            if (!stopped) timer = setTimeout(() => void cycle(), 500);
          },
        );
        if (first) {
          first = false;
          markReady();
        }
      } catch (err) {
        // A kind nobody has registered yet (its CRD comes later): wait for it, like an informer.
        const notServed =
          isApiError(err, 404) || (err instanceof Error && err.message.includes('does not serve'));
        if (first && !notServed) {
          first = false;
          failReady(err);
          return;
        }
        if (first) {
          first = false;
          markReady();
        }
        if (!stopped) timer = setTimeout(() => void cycle(), notServed ? 2000 : 1000);
      }
    };
    void cycle();
    return {
      ready,
      stop() {
        stopped = true;
        if (timer) clearTimeout(timer);
        abort?.abort();
      },
    };
  }
}

export function objectKey(obj: KubeObject): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}
