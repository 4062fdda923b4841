// Kubernetes access for functions and the export Job: the generic object API of client-node for
// every kind, and the status subresource of our CRDs written with optimistic concurrency.
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  type KubernetesObject,
} from '@kubernetes/client-node';

export type Obj = KubernetesObject & { [key: string]: unknown };

export const isNotFound = (e: unknown): boolean => e instanceof ApiException && e.code === 404;
export const isConflict = (e: unknown): boolean => e instanceof ApiException && e.code === 409;
export const isAlreadyExists = (e: unknown): boolean => e instanceof ApiException && e.code === 409;

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
  readonly objects: KubernetesObjectApi;
  readonly custom: CustomObjectsApi;
  readonly core: CoreV1Api;

  constructor(readonly config: KubeConfig = Kube.defaultConfig()) {
    this.objects = KubernetesObjectApi.makeApiClient(config);
    this.custom = config.makeApiClient(CustomObjectsApi);
    this.core = config.makeApiClient(CoreV1Api);
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
  ): Promise<T[]> {
    const list = await this.objects.list(
      apiVersion,
      kind,
      namespace,
      undefined,
      undefined,
      undefined,
      undefined,
      labelSelector,
    );
    return list.items as T[];
  }

  async create<T extends Obj>(object: T): Promise<T> {
    return (await this.objects.create(object)) as T;
  }

  /** Creates the object, or returns the existing one of that name (idempotent create). */
  async ensure<T extends Obj>(object: T): Promise<{ object: T; created: boolean }> {
    try {
      return { object: await this.create(object), created: true };
    } catch (e) {
      if (!isAlreadyExists(e) || !object.metadata?.name) throw e;
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
  async replaceStatus<T extends Obj>(object: T, plural: string): Promise<T> {
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
}
