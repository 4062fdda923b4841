// Helpers for tests that need a real API server and the real kubectl: a server in a temporary
// data dir, and kubectl bound to its kubeconfig with a private discovery cache.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { ApiServerOptions, RunningApiServer } from './index.ts';
import { startApiServer } from './index.ts';

export interface TestApiServer extends RunningApiServer {
  dataDir: string;
  /** Runs kubectl against this server; never throws on a non-zero exit. */
  kubectl(
    args: string[],
    opts?: { input?: string; timeoutMs?: number },
  ): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** Stops the server and removes the data dir. */
  dispose(): Promise<void>;
}

export async function startTestApiServer(opts: Partial<ApiServerOptions> = {}): Promise<TestApiServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'apiserver-test-'));
  const server = await startApiServer({ ...opts, dataDir });
  const kubectl: TestApiServer['kubectl'] = async (args, o = {}) => {
    const result = await execa(
      'kubectl',
      ['--kubeconfig', server.kubeconfigPath, '--cache-dir', join(dataDir, 'kube-cache'), ...args],
      {
        reject: false,
        timeout: o.timeoutMs ?? 30_000,
        ...(o.input !== undefined ? { input: o.input } : {}),
      },
    );
    return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
  };
  return {
    ...server,
    dataDir,
    kubectl,
    async dispose() {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
