// An embedded API server with every CRD the functions touch, for integration tests of functions.
import { KubeConfig } from '@kubernetes/client-node';
import { execa } from 'execa';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudEvent } from 'cloudevents';
import type { Context } from 'faas-js-runtime';
import { startApiServer, type RunningApiServer } from '../../local-cluster/apiserver/index.ts';
import { thirdPartyCrdDir } from '../../local-cluster/components/crds.ts';
import { Kube, type Obj } from '../../functions/shared/kube/client.ts';

const ROOT = join(import.meta.dirname, '../..');

export interface TestApi {
  server: RunningApiServer;
  kube: Kube;
  kubectl(...args: string[]): Promise<string>;
  close(): Promise<void>;
}

export async function startTestApi(): Promise<TestApi> {
  const dataDir = await mkdtemp(join(tmpdir(), 'vm-import-api-'));
  const server = await startApiServer({ dataDir, port: 0 });
  const kubectl = async (...args: string[]) =>
    (await execa('kubectl', ['--kubeconfig', server.kubeconfigPath, ...args])).stdout;
  await kubectl('apply', '--server-side', '-f', join(ROOT, 'config/crds'), '-f', await thirdPartyCrdDir());
  const kc = new KubeConfig();
  kc.loadFromFile(server.kubeconfigPath);
  return {
    server,
    kube: new Kube(kc),
    kubectl,
    async close() {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The CloudEvent an ApiServerSource would deliver for `object`. */
export function apiServerEvent(object: Obj, verb: 'add' | 'update' | 'delete' = 'update'): CloudEvent<Obj> {
  return new CloudEvent<Obj>({
    type: `dev.knative.apiserver.resource.${verb}`,
    source: 'https://127.0.0.1',
    subject: `/apis/${object.apiVersion}/namespaces/${object.metadata?.namespace}/x/${object.metadata?.name}`,
    kind: object.kind,
    name: object.metadata?.name,
    namespace: object.metadata?.namespace,
    apiversion: object.apiVersion,
    datacontenttype: 'application/json',
    data: object,
  });
}

export const noContext = {} as Context;
