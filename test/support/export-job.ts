// The export slice as the integration tests drive it: an import put in sourceReady (as sanitize
// leaves it) and the exporter program run as the export Job's pod runs it (plain node on the
// build in dist/, a child process with KUBECONFIG and the Job's environment).
import { execa } from 'execa';
import { join } from 'node:path';
import { API_VERSION, type VirtualMachineImportStatus } from '../../functions/shared/api/index.ts';
import type { Obj } from '../../functions/shared/kube/client.ts';
import { builtProgram } from './built-program.ts';
import type { TestApi } from './cluster-api.ts';

const ROOT = join(import.meta.dirname, '../..');
const EXPORTER = await builtProgram('exporter');

/**
 * Creates the VirtualMachineImport `name` with `spec`, writes its status as sourceReady (plus
 * `status`) and returns it as stored.
 */
export async function createSourceReadyImport(
  api: TestApi,
  name: string,
  spec: Record<string, unknown>,
  opts: { namespace?: string; status?: Partial<VirtualMachineImportStatus> } = {},
): Promise<Obj> {
  const namespace = opts.namespace ?? 'default';
  const get = () => api.kube.get<Obj>(API_VERSION, 'VirtualMachineImport', namespace, name);
  await api.kube.create({
    apiVersion: API_VERSION,
    kind: 'VirtualMachineImport',
    metadata: { name, namespace },
    spec,
  });
  await api.kube.replaceStatus(
    { ...(await get()), status: { importStatus: 'sourceReady', ...opts.status } },
    'virtualmachineimports',
  );
  return get();
}

/** Runs the exporter program for `vmImport`; the result carries its exit code and output. */
export function runExporterProgram(
  api: TestApi,
  vmImport: Obj,
  dirs: { scratch: string; credentials: string },
  env: Record<string, string> = {},
) {
  return execa(process.execPath, [EXPORTER], {
    cwd: ROOT,
    reject: false,
    env: {
      KUBECONFIG: api.kubeconfigPath,
      IMPORT_NAMESPACE: vmImport.metadata!.namespace!,
      IMPORT_NAME: vmImport.metadata!.name!,
      IMPORT_UID: vmImport.metadata!.uid!,
      SCRATCH_DIR: dirs.scratch,
      CREDENTIALS_DIR: dirs.credentials,
      ...env,
    },
  });
}
