// What every runtime controller shares: the API client, the directories under the state
// directory and the pod network.
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Kube } from '../../functions/shared/kube/client.ts';
import type { PodNetwork } from './network/pod-network.ts';

export interface RuntimePaths {
  stateDir: string;
  logs: string;
  volumes: string;
  pods: string;
  harvesterImages: string;
}

export function runtimePaths(stateDir: string): RuntimePaths {
  return {
    stateDir,
    logs: join(stateDir, 'logs'),
    volumes: join(stateDir, 'volumes'),
    pods: join(stateDir, 'pods'),
    harvesterImages: join(stateDir, 'harvester', 'images'),
  };
}

export interface RuntimeContext {
  kube: Kube;
  network: PodNetwork;
  paths: RuntimePaths;
  projectRoot: string;
  kubeconfigPath: string;
  /** Kubeconfig with the token of a service account (pods run with their own); absent: admin's. */
  serviceAccountKubeconfig?: (namespace: string, name: string) => Promise<string>;
  /** The Node this runtime runs pods for: only pods the scheduler bound to it are started. */
  nodeName: string;
  /** The Node 22 binary (an ELF file): images bind it as their /usr/local/bin/node. */
  nodeBinary: string;
  /** Knative Eventing's programs, the images of its pods (local-cluster/components/knative-eventing). */
  knativeEventing?: { binDir: string; version: string };
  /** The container init every container starts with (local-cluster/components/container-init). */
  containerInit: string;
  /** The kubectl built with the control plane (the network probe image's program). */
  kubectlBinary?: string;
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
