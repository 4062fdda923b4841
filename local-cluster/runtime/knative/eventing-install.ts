// Installs Knative Eventing as its release does, from the knative.dev/eventing module the local
// cluster builds its programs from (local-cluster/components/knative-eventing): the YAML of
// eventing-core, in-memory-channel and mt-channel-broker (hack/generate-yamls.sh: config/core,
// config/channels/in-memory-channel, config/brokers/mt-channel-broker; hack/release.sh copies
// third_party/eventing-integrations-latest/*.yaml into config/core/configmaps), read from the module
// cache, with every ko:// image reference resolved to the image the node agent serves.
import { execa } from 'execa';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import { componentBinary } from '../../control-plane/components.ts';
import { knativeEventingImage } from '../node-agent/images.ts';

const COMPONENT_DIR = fileURLToPath(new URL('../../components/knative-eventing', import.meta.url));
const MODULE = 'knative.dev/eventing';

/**
 * Parts of eventing-core whose programs the local cluster does not build: JobSink and RequestReply
 * (features vm-import does not use). Their CRDs and RBAC are still installed.
 */
const NOT_INSTALLED = ['config/core/deployments/job-sink.yaml', 'config/core/deployments/request-reply.yaml'];

export interface KnativeEventingBuild {
  /** The module version the programs and the YAML come from (e.g. v0.50.0). */
  version: string;
  /** The programs, each named after the last element of its import path. */
  binDir: string;
  /** The module's source in the Go module cache (read-only). */
  moduleDir: string;
}

let build: Promise<KnativeEventingBuild> | undefined;

/** Builds the programs on first use on this machine, and finds the module's YAML. */
export function knativeEventingBuild(): Promise<KnativeEventingBuild> {
  build ??= (async () => {
    const binDir = dirname(await componentBinary('knative-eventing', 'controller'));
    const { stdout } = await execa('go', ['list', '-m', '-f', '{{.Version}}\t{{.Dir}}', MODULE], {
      cwd: COMPONENT_DIR,
      env: { GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local' },
    });
    const [version, moduleDir] = stdout.trim().split('\t');
    if (!version || !moduleDir) throw new Error(`go list -m ${MODULE} printed ${JSON.stringify(stdout)}`);
    return { version, binDir, moduleDir };
  })();
  return build;
}

async function yamlFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.yaml'))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** The release's manifests, in the order a release YAML lists them, ko:// references resolved. */
export async function knativeEventingManifests({
  moduleDir,
  version,
}: KnativeEventingBuild): Promise<string> {
  const files = [
    ...(await yamlFiles(join(moduleDir, 'config', 'core'))),
    ...(await yamlFiles(join(moduleDir, 'third_party', 'eventing-integrations-latest'))),
    ...(await yamlFiles(join(moduleDir, 'config', 'channels', 'in-memory-channel'))),
    ...(await yamlFiles(join(moduleDir, 'config', 'brokers', 'mt-channel-broker'))),
  ].filter((f) => !NOT_INSTALLED.includes(relative(moduleDir, f)));
  const texts = await Promise.all(files.map((f) => readFile(f, 'utf8')));
  const resolved = texts.map((t) =>
    t.replace(/ko:\/\/knative\.dev\/eventing\/cmd\/([\w/]+)/g, (_, p: string) =>
      knativeEventingImage(p, version),
    ),
  );
  return resolved
    .flatMap((t) => parseAllDocuments(t))
    .map((doc) => doc.toJS() as Record<string, unknown> | null)
    .filter((o): o is Record<string, unknown> => o !== null)
    .map(withLocalObservability)
    .map((o) => stringify(o))
    .join('---\n');
}

/**
 * The local cluster's observability setting for Knative (an admin's choice on a real cluster):
 * Prometheus metrics on each component's metrics port, so tests count deliveries from Knative's
 * own HTTP client metrics (delivery-metrics.ts).
 */
const OBSERVABILITY = { name: 'config-observability', data: { 'metrics-protocol': 'prometheus' } };

/** Set before the components start: they read it once at start-up (knative.dev/pkg sharedmain). */
function withLocalObservability(o: Record<string, unknown>): Record<string, unknown> {
  const meta = o.metadata as { name?: string } | undefined;
  if (o.kind !== 'ConfigMap' || meta?.name !== OBSERVABILITY.name) return o;
  return { ...o, data: { ...(o.data as Record<string, string> | undefined), ...OBSERVABILITY.data } };
}

/** The Deployments of the install; the ApiServerSource adapters are made later by its controller. */
export const KNATIVE_NAMESPACE = 'knative-eventing';

type Kubectl = (args: string[], input?: string) => Promise<string>;

/** Applies the release's manifests and waits until every Deployment of the install is Available. */
export async function installKnativeEventing(kubectl: Kubectl, build: KnativeEventingBuild): Promise<void> {
  await kubectl(
    ['apply', '--server-side', '--force-conflicts', '-f', '-'],
    await knativeEventingManifests(build),
  );
  await kubectl([
    'wait',
    '--for=condition=Available',
    'deployment',
    '--all',
    '-n',
    KNATIVE_NAMESPACE,
    '--timeout=300s',
  ]);
}

/** Waits until Knative's controllers report every Broker, Trigger and source Ready. */
export async function waitForEventingReady(kubectl: Kubectl, timeoutSeconds = 180): Promise<void> {
  const kinds = [
    'brokers.eventing.knative.dev',
    'triggers.eventing.knative.dev',
    'apiserversources.sources.knative.dev',
    'pingsources.sources.knative.dev',
  ];
  for (const kind of kinds) {
    const names = (await kubectl(['get', kind, '-A', '-o', 'name'])).trim();
    if (!names) continue;
    await kubectl(['wait', '--for=condition=Ready', kind, '--all', '-A', `--timeout=${timeoutSeconds}s`]);
  }
}

/** The release's CRD files (eventing-crds: config/core/resources), for an API server without the install. */
export async function knativeEventingCrdFiles({ moduleDir }: KnativeEventingBuild): Promise<string[]> {
  return yamlFiles(join(moduleDir, 'config', 'core', 'resources'));
}
