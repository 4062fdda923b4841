// The node agent's "registry": every container image a Pod on the local cluster may name, and the
// root filesystem it gets. There is no container engine here, so an image is a table entry that
// lays out, read-only, what the image's build would have put where (host directories bound into
// the sandbox), plus the image config (user, working directory, environment, entrypoint).
// An image not in the table fails like a pull from a registry that does not have it.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DIST_DIR, hasBuild } from '../../../build.ts';
import { programCommand } from '../../../functions/shared/image-programs.ts';

/** A host path bound read-only at `path` in the container. */
export interface RootfsBind {
  host: string;
  path: string;
}

/** An /etc/passwd entry of the image (runAsUser without runAsGroup takes its group, as runc does). */
export interface ImageUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** What `docker inspect` calls the image config, and the layers as read-only binds. */
export interface ImageRootfs {
  /** /etc/passwd and /etc/group are generated from these. */
  users: ImageUser[];
  binds: RootfsBind[];
  /** Symlinks of the image (Debian's merged /usr: /bin -> usr/bin, ...). */
  symlinks: { target: string; path: string }[];
  /**
   * Empty directories the image has (mount points, /tmp). Mode as in the image; an owner other
   * than root when the image's layer has one (a non-root user's home).
   */
  directories: { path: string; mode: number; owner?: { uid: number; gid: number } }[];
  /** USER of the image, numeric (runAsNonRoot is checked against it, as the kubelet does). */
  user: { uid: number; gid: number };
  workingDir: string;
  env: Record<string, string>;
  entrypoint: string[];
  cmd: string[];
}

export interface ImageHost {
  /** The project checkout: what the vm-import image copies its files from. */
  projectRoot: string;
  /** The Node 22 binary (the npm `node` package's). */
  nodeBinary: string;
  /** kubectl as the control plane was built (a static Go program): the network probe's. */
  kubectlBinary?: string;
  /** Knative Eventing's programs as built from knative.dev/eventing (static Go programs). */
  knativeEventing?: { binDir: string; version: string };
}

export class ImagePullError extends Error {
  readonly reason = 'ErrImagePull';
}

/** The base layer, docker.io/library/node:22-bookworm-slim, from the host's Debian bookworm /usr and Node 22. */
function nodeBookwormSlim(host: ImageHost): ImageRootfs {
  return {
    binds: [
      // The host is Debian bookworm too; its /usr carries what the image installs on top of
      // node:22-bookworm-slim (qemu-utils, ca-certificates), see Containerfile. /usr/local is the
      // image's own: node.
      ...['bin', 'sbin', 'lib', 'lib64', 'libexec', 'share']
        .filter((d) => existsSync(`/usr/${d}`))
        .map((d) => ({ host: `/usr/${d}`, path: `/usr/${d}` })),
      { host: '/etc/ssl', path: '/etc/ssl' },
      { host: '/etc/alternatives', path: '/etc/alternatives' },
      { host: '/etc/ld.so.cache', path: '/etc/ld.so.cache' },
      { host: host.nodeBinary, path: '/usr/local/bin/node' },
    ],
    symlinks: [
      { target: 'usr/bin', path: '/bin' },
      { target: 'usr/sbin', path: '/sbin' },
      { target: 'usr/lib', path: '/lib' },
      { target: 'usr/lib64', path: '/lib64' },
    ],
    directories: [
      { path: '/usr/local/bin', mode: 0o755 },
      { path: '/tmp', mode: 0o1777 },
      { path: '/root', mode: 0o700 },
      { path: '/var/tmp', mode: 0o1777 },
      { path: '/home/node', mode: 0o755 },
    ],
    // node:22-bookworm-slim's passwd: root, Debian's system users, and node (1000).
    users: [
      { name: 'root', uid: 0, gid: 0, home: '/root' },
      { name: 'nobody', uid: 65534, gid: 65534, home: '/nonexistent' },
      { name: 'node', uid: 1000, gid: 1000, home: '/home/node' },
    ],
    user: { uid: 0, gid: 0 },
    workingDir: '/',
    env: {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      NODE_VERSION: '22',
    },
    // node's docker-entrypoint.sh only execs its arguments (prefixing `node` to a flag); pods of
    // the local cluster always name their command, so the layer leaves it out.
    entrypoint: [],
    cmd: ['node'],
  };
}

/**
 * ghcr.io/vm-import/vm-import: as the Containerfile lays it out — the build (`npm run build`,
 * dist/: the programs with their dependencies bundled), no node_modules, no TypeScript sources. The local cluster makes sure the
 * build is current before it starts (build.ts ensureBuilt); without one the pull fails.
 */
function vmImportImage(host: ImageHost): ImageRootfs {
  if (!hasBuild(host.projectRoot))
    throw new ImagePullError(
      `${VM_IMPORT_REPOSITORY}: the image is not built (no ${DIST_DIR}/ in ${host.projectRoot}): run npm run build`,
    );
  const base = nodeBookwormSlim(host);
  const app = (p: string) => ({ host: join(host.projectRoot, p), path: `/app/${p}` });
  return {
    ...base,
    binds: [...base.binds, app(DIST_DIR)],
    user: { uid: 65532, gid: 65532 },
    workingDir: '/app',
    env: { ...base.env, NODE_ENV: 'production' },
    cmd: programCommand('functions'),
  };
}

/**
 * The local cluster's event probe (local-cluster/images/event-probe): a function that logs every
 * CloudEvent it receives as one JSON line, for checking the eventing path with `kubectl logs`.
 */
function eventProbeImage(host: ImageHost): ImageRootfs {
  const base = nodeBookwormSlim(host);
  return {
    ...base,
    binds: [
      ...base.binds,
      { host: join(host.projectRoot, 'package.json'), path: '/app/package.json' },
      { host: join(host.projectRoot, 'node_modules'), path: '/app/node_modules' },
      { host: join(host.projectRoot, 'local-cluster', 'images', 'event-probe'), path: '/app/probe' },
    ],
    user: { uid: 65532, gid: 65532 },
    workingDir: '/app',
    env: { ...base.env, TMPDIR: '/tmp' },
    cmd: ['node', '--import', 'tsx', 'probe/function-host.ts', 'probe/index.ts'],
  };
}

/**
 * The local cluster's network probe: a Go program in a pod (kubectl, built static with Go's own
 * resolver, which reads the pod's /etc/resolv.conf as every Go component of a cluster does) on
 * the same Debian base. Tests use it to check cluster DNS and Services from a Go client.
 */
function netProbeImage(host: ImageHost & { kubectlBinary: string }): ImageRootfs {
  const base = nodeBookwormSlim(host);
  return {
    ...base,
    binds: [...base.binds, { host: host.kubectlBinary, path: '/usr/local/bin/kubectl' }],
    user: { uid: 65532, gid: 65532 },
    entrypoint: ['kubectl'],
    cmd: [],
  };
}

/**
 * A STAND-IN for CDI's importer image (quay.io/kubevirt/cdi-importer): our program
 * local-cluster/images/cdi-importer/importer.ts with the host's qemu-img, user 107 as CDI's image.
 */
function cdiImporterImage(host: ImageHost): ImageRootfs {
  const base = nodeBookwormSlim(host);
  return {
    ...base,
    binds: [
      ...base.binds,
      { host: join(host.projectRoot, 'package.json'), path: '/app/package.json' },
      { host: join(host.projectRoot, 'node_modules'), path: '/app/node_modules' },
      { host: join(host.projectRoot, 'local-cluster', 'images', 'cdi-importer'), path: '/app/importer' },
    ],
    users: [...base.users, { name: 'qemu', uid: 107, gid: 107, home: '/' }],
    user: { uid: 107, gid: 107 },
    workingDir: '/app',
    env: { ...base.env, TMPDIR: '/tmp' },
    // CDI's image has the importer as its ENTRYPOINT; the pod passes only args (-v=<level>).
    entrypoint: ['node', '--import', 'tsx', 'importer/importer.ts'],
    cmd: [],
  };
}

/**
 * An image as `ko` builds Knative's programs (Knative's .ko.yaml: base
 * gcr.io/distroless/static:nonroot): the static binary at /ko-app/<name> as the entrypoint,
 * the base's CA bundle, passwd (root, nobody, nonroot) and /tmp, user nonroot, and the
 * environment ko sets (PATH with /ko-app, SSL_CERT_FILE, KO_DATA_PATH).
 */
function koImage(binary: string, name: string): ImageRootfs {
  return {
    binds: [
      { host: binary, path: `/ko-app/${name}` },
      { host: '/etc/ssl/certs/ca-certificates.crt', path: '/etc/ssl/certs/ca-certificates.crt' },
    ],
    symlinks: [],
    directories: [
      { path: '/tmp', mode: 0o1777 },
      { path: '/home/nonroot', mode: 0o700, owner: { uid: 65532, gid: 65532 } },
    ],
    users: [
      { name: 'root', uid: 0, gid: 0, home: '/root' },
      { name: 'nobody', uid: 65534, gid: 65534, home: '/nonexistent' },
      { name: 'nonroot', uid: 65532, gid: 65532, home: '/home/nonroot' },
    ],
    user: { uid: 65532, gid: 65532 },
    workingDir: '/home/nonroot',
    env: {
      PATH: '/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/ko-app',
      SSL_CERT_FILE: '/etc/ssl/certs/ca-certificates.crt',
      KO_DATA_PATH: '/var/run/ko',
    },
    entrypoint: [`/ko-app/${name}`],
    cmd: [],
  };
}

/** Where `ko resolve --local --preserve-import-paths` puts an image: ko.local/<import path>. */
export const KO_LOCAL_REGISTRY = 'ko.local';
/** Knative Eventing's programs the local cluster builds (local-cluster/components/knative-eventing). */
export const KNATIVE_EVENTING_PROGRAMS = [
  'apiserver_receive_adapter',
  'broker/filter',
  'broker/ingress',
  'controller',
  'in_memory/channel_controller',
  'in_memory/channel_dispatcher',
  'mtchannel_broker',
  'mtping',
  'webhook',
] as const;

/** The image reference of a Knative Eventing program (its import path under knative.dev/eventing/cmd/). */
export function knativeEventingImage(program: string, version: string): string {
  return `${KO_LOCAL_REGISTRY}/knative.dev/eventing/cmd/${program}:${version}`;
}

export const VM_IMPORT_REPOSITORY = 'ghcr.io/vm-import/vm-import';
export const CDI_IMPORTER_IMAGE = 'localhost/vm-import/cdi-importer:dev';
export const NET_PROBE_IMAGE = 'localhost/vm-import/net-probe:dev';
export const EVENT_PROBE_IMAGE = 'localhost/vm-import/event-probe:dev';

function packageVersion(projectRoot: string): string {
  return (JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

type ImageEntry = { tags: string[]; rootfs: () => ImageRootfs };

/** repository -> tags the "registry" has -> root filesystem. */
function imageTable(host: ImageHost): Map<string, ImageEntry> {
  const table = new Map<string, ImageEntry>([
    [VM_IMPORT_REPOSITORY, { tags: [packageVersion(host.projectRoot)], rootfs: () => vmImportImage(host) }],
    ['localhost/vm-import/event-probe', { tags: ['dev'], rootfs: () => eventProbeImage(host) }],
    ['localhost/vm-import/cdi-importer', { tags: ['dev'], rootfs: () => cdiImporterImage(host) }],
  ]);
  const knative = host.knativeEventing;
  if (knative)
    for (const program of KNATIVE_EVENTING_PROGRAMS) {
      const name = program.split('/').at(-1)!;
      const { repository } = parseImageReference(knativeEventingImage(program, knative.version));
      table.set(repository, {
        tags: [knative.version],
        rootfs: () => koImage(join(knative.binDir, name), name),
      });
    }
  const kubectlBinary = host.kubectlBinary;
  if (kubectlBinary)
    table.set('localhost/vm-import/net-probe', {
      tags: ['dev'],
      rootfs: () => netProbeImage({ ...host, kubectlBinary }),
    });
  return table;
}

/** Splits an image reference as a container runtime does: registry defaults, tag defaults. */
export function parseImageReference(ref: string): { repository: string; tag: string } {
  const at = ref.indexOf('@');
  const withoutDigest = at >= 0 ? ref.slice(0, at) : ref;
  const slash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.lastIndexOf(':');
  const hasTag = colon > slash;
  let repository = hasTag ? withoutDigest.slice(0, colon) : withoutDigest;
  const tag = hasTag ? withoutDigest.slice(colon + 1) : 'latest';
  const first = repository.split('/')[0]!;
  const hasRegistry =
    repository.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (!hasRegistry) repository = `docker.io/${repository.includes('/') ? '' : 'library/'}${repository}`;
  return { repository, tag };
}

/** The image's root filesystem, or the error a node reports when the pull fails. */
export function resolveImage(ref: string | undefined, host: ImageHost): ImageRootfs {
  if (!ref) throw new ImagePullError('the container names no image');
  const { repository, tag } = parseImageReference(ref);
  const entry = imageTable(host).get(repository);
  if (!entry || !entry.tags.includes(tag))
    throw new ImagePullError(
      `Failed to pull image "${ref}": ${repository}:${tag}: not found (the local cluster's images: ${[
        ...imageTable(host).entries(),
      ]
        .flatMap(([repo, e]) => e.tags.map((t) => `${repo}:${t}`))
        .join(', ')})`,
    );
  return entry.rootfs();
}

/** The image's /etc/passwd and /etc/group. */
export function etcFiles(image: ImageRootfs): { passwd: string; group: string } {
  return {
    passwd: image.users.map((u) => `${u.name}:x:${u.uid}:${u.gid}::${u.home}:/bin/sh\n`).join(''),
    group: image.users.map((u) => `${u.name}:x:${u.gid}:\n`).join(''),
  };
}
