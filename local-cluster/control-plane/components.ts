// Where the real components' binaries are: local-cluster/components/build.sh builds each Go
// module of that folder once per machine into a cache outside the working tree and prints
// "<component>\t<bin dir>" for each; a second call is a cache hit that returns at once.
import { execa } from 'execa';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BUILD_SCRIPT = fileURLToPath(new URL('../components/build.sh', import.meta.url));

export type Component =
  'etcd' | 'kubernetes' | 'coredns' | 'container-init' | 'knative-eventing' | 'prom2json';

const binDirs = new Map<Component, Promise<string>>();

async function build(component: Component): Promise<string> {
  const { stdout } = await execa('bash', [BUILD_SCRIPT, component], { stderr: 'inherit' });
  const line = stdout.split('\n').find((l) => l.startsWith(`${component}\t`));
  if (!line) throw new Error(`${BUILD_SCRIPT} printed no bin directory for ${component}`);
  return line.split('\t')[1]!;
}

/** Absolute path of `binary` from `component`'s module (built on first use on this machine). */
export async function componentBinary(component: Component, binary: string): Promise<string> {
  let dir = binDirs.get(component);
  if (!dir) {
    dir = build(component);
    binDirs.set(component, dir);
  }
  return join(await dir, binary);
}
