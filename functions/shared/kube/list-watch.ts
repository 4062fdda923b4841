// A client-go style reflector loop: list, then watch from the list's resourceVersion; re-list and
// re-watch when the watch ends. The local cluster's controllers and its ApiServerSource use it.
import { ApiException, type Watch } from '@kubernetes/client-node';
import type { Kube, KubeObject } from './client.ts';

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

/**
 * List, then watch from the list's resourceVersion; re-list and re-watch when the watch ends.
 * Like a client-go reflector feeding a store: with `emitListed: false` the listed objects are
 * ignored (Knative's ApiServerSource delegate ignores Replace()).
 */
export function listWatch(
  kube: Kube,
  watcher: Watch,
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
      const { items, resourceVersion } = await kube.listVersioned<KubeObject>(
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
      const path = await kube.collectionPath(opts.apiVersion, opts.kind, opts.namespace);
      if (stopped) return;
      abort = await watcher.watch(
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
        (err instanceof ApiException && err.code === 404) ||
        (err instanceof Error && err.message.includes('does not serve'));
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
