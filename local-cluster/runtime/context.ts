// What every runtime controller shares: the API client, the directories under the state
// directory, the pod network and how local processes are started.
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Kube } from './kube.ts';
import type { ClusterNetwork } from './dns/network.ts';

export interface RuntimePaths {
  stateDir: string;
  logs: string;
  volumes: string;
  pods: string;
  harvesterImages: string;
  dnsHosts: string;
}

export function runtimePaths(stateDir: string): RuntimePaths {
  return {
    stateDir,
    logs: join(stateDir, 'logs'),
    volumes: join(stateDir, 'volumes'),
    pods: join(stateDir, 'pods'),
    harvesterImages: join(stateDir, 'harvester', 'images'),
    dnsHosts: join(stateDir, 'dns', 'hosts.json'),
  };
}

export interface RuntimeContext {
  kube: Kube;
  network: ClusterNetwork;
  paths: RuntimePaths;
  projectRoot: string;
  kubeconfigPath: string;
  /** Kubeconfig with the token of a service account (pods run with their own); absent: admin's. */
  serviceAccountKubeconfig?: (namespace: string, name: string) => Promise<string>;
  /** A token of a service account from the TokenRequest API, bound to a pod. */
  requestServiceAccountToken?: (
    namespace: string,
    name: string,
    pod: { name: string; uid: string },
  ) => Promise<string>;
  /** The Node this runtime runs pods for: only pods the scheduler bound to it are started. */
  nodeName: string;
  caCertPath?: string;
  /** Node 22 binary; every node process of the cluster gets NODE_OPTIONS with tsx + the preload. */
  nodeBinary: string;
  preloadPath: string;
  /** Absolute URL of tsx's loader (so --import works from any working directory). */
  tsxLoaderUrl: string;
  log(component: string, message: string, fields?: Record<string, unknown>): void;
}

/** JSON log lines of the runtime itself, one file per component under logs/. */
export function componentLogger(logDir: string): RuntimeContext['log'] {
  mkdirSync(logDir, { recursive: true });
  return (component, message, fields) => {
    const line = JSON.stringify({ time: new Date().toISOString(), component, message, ...fields });
    appendFileSync(join(logDir, `runtime-${component}.log`), `${line}\n`);
  };
}

/**
 * Environment every cluster process gets (in-cluster access to the API server and DNS).
 * `kubeconfig`: the pod's service-account kubeconfig; undefined = no API credentials.
 */
export function clusterProcessEnv(
  ctx: RuntimeContext,
  podIp: string,
  kubeconfig: string | undefined = ctx.kubeconfigPath,
): Record<string, string> {
  const env: Record<string, string> = {
    // node_modules/.bin first: "node" inside scripts is node 22 too.
    PATH: `${join(ctx.projectRoot, 'node_modules', '.bin')}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    HOME: process.env.HOME ?? ctx.projectRoot,
    VMI_CLUSTER_DNS_HOSTS: ctx.paths.dnsHosts,
    VMI_POD_IP: podIp,
    VMI_SUPERVISOR_PID: String(process.pid),
    NODE_OPTIONS: `--import "${ctx.tsxLoaderUrl}" --import "${ctx.preloadPath}"`,
  };
  if (kubeconfig) env.KUBECONFIG = kubeconfig;
  if (ctx.caCertPath) env.NODE_EXTRA_CA_CERTS = ctx.caCertPath;
  return env;
}
