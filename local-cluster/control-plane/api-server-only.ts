// A real API server (etcd + kube-apiserver built from their modules, no controllers) with every
// CRD the functions touch, and kubectl bound to it: for integration tests of functions and for
// benchmarks that run functions against a real API server.
import { KubeConfig } from '@kubernetes/client-node';
import { execa } from 'execa';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kube } from '../../functions/shared/kube/client.ts';
import { thirdPartyCrdDir } from '../components/crds.ts';
import { componentBinary } from './components.ts';
import { startControlPlane, type ControlPlane } from './control-plane.ts';

const ROOT = join(import.meta.dirname, '../..');

export interface KubectlResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface TestApi {
  controlPlane: ControlPlane;
  kubeconfigPath: string;
  kube: Kube;
  /** Runs kubectl against this server; throws on a non-zero exit. */
  kubectl(...args: string[]): Promise<string>;
  /** Runs kubectl against this server; never throws on a non-zero exit. */
  tryKubectl(args: string[], input?: string): Promise<KubectlResult>;
  close(): Promise<void>;
}

export async function yamlFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.endsWith('.yaml')).map((f) => join(dir, f));
}

/** `crds`: apply config/crds and the third-party CRDs (default true). */
export async function startTestApi(options: { crds?: boolean } = {}): Promise<TestApi> {
  const stateDir = await mkdtemp(join(tmpdir(), 'vm-import-api-'));
  const controlPlane = await startControlPlane({
    stateDir,
    serviceCidr: '127.254.0.0/16',
    controllers: false,
    log: () => {},
  });
  const kubectlBinary = await componentBinary('kubernetes', 'kubectl');
  const kubeconfigPath = controlPlane.adminKubeconfigPath;
  const cacheDir = join(stateDir, 'kubectl-cache');
  const tryKubectl = async (args: string[], input?: string): Promise<KubectlResult> => {
    const r = await execa(kubectlBinary, ['--kubeconfig', kubeconfigPath, '--cache-dir', cacheDir, ...args], {
      reject: false,
      ...(input !== undefined ? { input } : {}),
    });
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
  };
  const kubectl = async (...args: string[]) => {
    const r = await tryKubectl(args);
    if (r.exitCode !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  if (options.crds !== false) {
    const files = [
      ...(await yamlFiles(join(ROOT, 'config/crds'))),
      ...(await yamlFiles(await thirdPartyCrdDir())),
    ];
    await kubectl('apply', '--server-side', ...files.flatMap((f) => ['-f', f]));
    await waitForCrdsServed(kubectl);
  }
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return {
    controlPlane,
    kubeconfigPath,
    kube: new Kube(kc),
    kubectl,
    tryKubectl,
    async close() {
      await controlPlane.stop();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

/**
 * Waits until the CRDs `crds` (names, e.g. `nodes.longhorn.io`; none: every CRD) serve: a real
 * API server serves a new CRD once it is Established, and its storage answers 429 "storage is
 * (re)initializing" until its watch cache has synced; kubectl (client-go) retries 429 with
 * Retry-After, so one list of every custom resource returns when all of them serve.
 */
export async function waitForCrdsServed(
  kubectl: (...args: string[]) => Promise<string>,
  ...crds: string[]
): Promise<void> {
  const which = crds.length ? crds.map((c) => `crd/${c}`) : ['crd', '--all'];
  await kubectl('wait', '--for=condition=Established', '--timeout=60s', ...which);
  const names = (await kubectl('get', 'crd', '-o', 'jsonpath={.items[*].metadata.name}'))
    .split(' ')
    .filter(Boolean);
  if (names.length) await kubectl('get', names.join(','), '-A', '-o', 'name');
}
