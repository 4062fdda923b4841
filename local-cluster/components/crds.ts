// The third-party CRDs the local cluster serves (Harvester, Knative, Multus, Longhorn, KubeVirt,
// CDI), written by local-cluster/setup.d/20-crds.sh from the projects' own Go modules into the
// component cache (see local-cluster/components/crds/).
import { execa } from 'execa';
import { fileURLToPath } from 'node:url';

const SETUP_STEP = fileURLToPath(new URL('../setup.d/20-crds.sh', import.meta.url));

let dir: Promise<string> | undefined;

/** The directory of `<crd name>.yaml` files; writes them first when they are missing (once per process). */
export function thirdPartyCrdDir(): Promise<string> {
  dir ??= execa('bash', [SETUP_STEP], { stdout: 'pipe', stderr: 'inherit' }).then(({ stdout }) => {
    const path = stdout.trim().split('\n').at(-1);
    if (!path) throw new Error(`${SETUP_STEP} printed no directory`);
    return path;
  });
  return dir;
}
