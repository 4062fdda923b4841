// The embedded Kubernetes API server: startApiServer() serves the Kubernetes REST API over
// verified TLS from an in-memory ObjectStore that in-process callers can use directly too.
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { ensurePki } from '../pki.ts';
import type { HttpContext, Identity, PodLogProvider } from './http.ts';
import { createHandler } from './http.ts';
import { kubeconfigYaml } from './kubeconfig.ts';
import { openApiV3 } from './openapi.ts';
import { RbacAuthorizer, ServiceAccountTokens, storeRbacSource } from './rbac.ts';
import { Registry } from './registry.ts';
import { ObjectStore } from './store.ts';

export { ObjectStore } from './store.ts';
export type {
  DeleteOptions,
  ListOptions,
  ObjectList,
  PatchType,
  ResourceRef,
  Watch,
  WatchEvent,
  WatchOptions,
  WriteOptions,
} from './store.ts';
export { ApiError } from './errors.ts';
export type { PodLogProvider, PodLogRequest } from './http.ts';
export type { KubeObject } from './types.ts';

export interface ApiServerOptions {
  dataDir: string;
  /** 0 = ephemeral */
  port?: number;
  /** default 127.0.0.1 */
  host?: string;
  tokens?: Record<string, { user: string; groups?: string[] }>;
  /** Events kept for resuming watches; older resourceVersions get 410 Gone. Default 1000. */
  historyLimit?: number;
  /** Logs one line per request. */
  log?: (line: string) => void;
  /** Appends every RBAC decision on a service-account request to this file (JSON lines). */
  rbacDecisionLog?: string;
}

export interface RunningApiServer {
  url: string;
  caCertPem: string;
  adminToken: string;
  /** written to <dataDir>/kubeconfig */
  kubeconfigPath: string;
  close(): Promise<void>;
  store: ObjectStore;
  /** Lets the runtime serve `kubectl logs` (GET pods/<name>/log). */
  setPodLogProvider(provider: PodLogProvider): void;
  /** A bearer token for the service account (RBAC applies to its requests). */
  issueServiceAccountToken(namespace: string, name: string): string;
}

function seed(store: ObjectStore): void {
  for (const name of ['default', 'kube-system', 'kube-public']) {
    store.create(
      { apiVersion: 'v1', kind: 'Namespace' },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name } },
    );
  }
  store.create(
    { apiVersion: 'v1', kind: 'ServiceAccount' },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: 'default' } },
  );
}

export async function startApiServer(opts: ApiServerOptions): Promise<RunningApiServer> {
  const host = opts.host ?? '127.0.0.1';
  await mkdir(opts.dataDir, { recursive: true });
  const pki = await ensurePki(join(opts.dataDir, 'pki'), [
    ...new Set([host, '127.0.0.1', 'localhost', '::1']),
  ]);
  const registry = new Registry();
  const store = new ObjectStore(registry, { historyLimit: opts.historyLimit ?? 1000 });
  seed(store);

  const adminToken = randomBytes(24).toString('hex');
  const tokens = new Map<string, Identity>([
    [adminToken, { user: 'admin', groups: ['system:masters', 'system:authenticated'] }],
  ]);
  for (const [token, identity] of Object.entries(opts.tokens ?? {})) tokens.set(token, identity);

  const ctx: HttpContext = {
    store,
    openapi: openApiV3(registry),
    tokens,
    serverAddress: '',
    watches: new Set(),
    ...(opts.log ? { log: opts.log } : {}),
    authorizer: new RbacAuthorizer(storeRbacSource(store), {
      ...(opts.rbacDecisionLog ? { decisionLogFile: opts.rbacDecisionLog } : {}),
    }),
  };
  const serviceAccountTokens = new ServiceAccountTokens(tokens);
  const server = createServer({ cert: pki.certPem, key: pki.keyPem }, createHandler(ctx));
  const sockets = new Set<Socket>();
  server.on('secureConnection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const url = `https://${urlHost}:${port}`;
  ctx.serverAddress = `${urlHost}:${port}`;
  const kubeconfigPath = join(opts.dataDir, 'kubeconfig');
  await writeFile(kubeconfigPath, kubeconfigYaml(url, pki.caCertPem, adminToken), { mode: 0o600 });

  let closed: Promise<void> | undefined;
  return {
    url,
    caCertPem: pki.caCertPem,
    adminToken,
    kubeconfigPath,
    store,
    setPodLogProvider(provider) {
      ctx.podLogs = provider;
    },
    issueServiceAccountToken(namespace, name) {
      return serviceAccountTokens.issue(namespace, name);
    },
    close() {
      closed ??= (async () => {
        for (const finish of [...ctx.watches]) finish();
        const done = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        for (const s of sockets) s.destroy();
        await done;
        await store.settled();
      })();
      return closed;
    },
  };
}
