// The container runtime of the node agent, as a bubblewrap (bwrap) command line: a process tree in
// its own PID, IPC and UTS namespaces and mount namespace whose root is a tmpfs holding only what
// the image defines (read-only binds), the files the kubelet manages (/etc/hosts, /etc/resolv.conf,
// /etc/hostname) and the pod's volumes at their mountPath; remounted read-only when the container
// asks for readOnlyRootFilesystem. The container init (local-cluster/components/container-init, a
// static program handed in as an open descriptor, as runc re-executes itself) then takes the user,
// groups, capabilities and no_new_privs the security context gives and execs the command, so an
// image needs nothing of ours in its root (a distroless image has no setpriv, libc or shell).
// The network namespace is the pod's own, entered before bwrap starts (container-process.ts).
import type { ContainerPlan } from './container-spec.ts';

export interface PodRuntimeFiles {
  /** Host files shown at /etc/<name>: passwd, group (the image's), hosts, hostname, resolv.conf. */
  etc: Record<'passwd' | 'group' | 'hosts' | 'hostname' | 'resolv.conf', string>;
  hostname: string;
  /** Image directories owned by a non-root user: host directories with that owner, shown at a path. */
  ownedDirectories?: { host: string; path: string }[];
  /** Host devices shown at a path (Block-mode volumes at volumeDevices[].devicePath). */
  devices?: { host: string; path: string }[];
}

/** The file descriptor bwrap reports the container's host PID and exit code on (JSON lines). */
export const SANDBOX_STATUS_FD = 3;
/** The descriptor the container init is open on; the init closes it before it execs the command. */
export const CONTAINER_INIT_FD = 4;

const depth = (p: string) => p.split('/').filter(Boolean).length;

function ancestors(path: string): string[] {
  const parts = path.split('/').filter(Boolean);
  return parts.slice(0, -1).map((_, i) => `/${parts.slice(0, i + 1).join('/')}`);
}

/**
 * Parent directories of every mount point, created 0755 as an image has them (bwrap's own are
 * 0700, which a non-root user cannot enter), except inside what is bound already.
 */
function mountPointParents(targets: string[], explicit: Set<string>, bound: string[]): string[] {
  const inside = (p: string) => bound.some((b) => p === b || p.startsWith(`${b}/`));
  const parents = new Set(targets.flatMap(ancestors));
  return [...parents].filter((p) => !explicit.has(p) && !inside(p)).sort((x, y) => depth(x) - depth(y));
}

/** The full argv: bwrap options, then the container init, then the container's own command. */
export function sandboxArgv(plan: ContainerPlan, files: PodRuntimeFiles): string[] {
  const a: string[] = [
    // bwrap's own init is PID 1 of the namespace (the command is its child): it keeps this
    // parent-death signal (the command's is cleared by the init's uid change), so the whole
    // namespace ends with the node agent.
    '--die-with-parent',
    '--json-status-fd',
    String(SANDBOX_STATUS_FD),
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
    '--hostname',
    files.hostname,
    '--perms',
    '0755',
    '--tmpfs',
    '/',
  ];
  const rootfs = plan.rootfs;
  const owned = files.ownedDirectories ?? [];
  const targets = [
    ...rootfs.binds.map((b) => b.path),
    ...owned.map((d) => d.path),
    ...Object.keys(files.etc).map((n) => `/etc/${n}`),
    ...plan.mounts.map((m) => m.mountPath),
    ...(files.devices ?? []).map((d) => d.path),
    `${plan.workingDir}/.`,
  ];
  const ownedPaths = new Set(owned.map((d) => d.path));
  const directories = rootfs.directories.filter((d) => !ownedPaths.has(d.path));
  const explicit = new Set(directories.map((d) => d.path));
  for (const p of mountPointParents(targets, explicit, [...rootfs.binds.map((b) => b.path), ...ownedPaths]))
    a.push('--perms', '0755', '--dir', p);
  for (const d of [...directories].sort((x, y) => depth(x.path) - depth(y.path)))
    a.push('--perms', d.mode.toString(8).padStart(4, '0'), '--dir', d.path);
  for (const l of rootfs.symlinks) a.push('--symlink', l.target, l.path);
  for (const b of rootfs.binds) a.push('--ro-bind', b.host, b.path);
  // Part of the root filesystem: read-only with it.
  for (const d of owned) a.push(plan.readOnlyRootFilesystem ? '--ro-bind' : '--bind', d.host, d.path);
  for (const [name, host] of Object.entries(files.etc)) a.push('--ro-bind', host, `/etc/${name}`);
  a.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/dev/shm');
  for (const d of files.devices ?? []) a.push('--dev-bind', d.host, d.path);
  // Parents before children, so a volume inside another volume's mountPath shows on top.
  for (const m of [...plan.mounts].sort((x, y) => depth(x.mountPath) - depth(y.mountPath)))
    a.push(m.readOnly ? '--ro-bind' : '--bind', m.source, m.mountPath);
  if (plan.readOnlyRootFilesystem) a.push('--remount-ro', '/');
  a.push('--chdir', plan.workingDir, '--');

  a.push(
    `/proc/self/fd/${CONTAINER_INIT_FD}`,
    `--uid=${plan.uid}`,
    `--gid=${plan.gid}`,
    `--groups=${plan.groups.join(',')}`,
    // Capabilities a root process keeps; non-root processes lose them all at the uid change.
    `--keep-caps=${plan.capabilities.map((c) => `CAP_${c}`).join(',')}`,
    ...(plan.noNewPrivileges ? ['--no-new-privs'] : []),
    `--close-fd=${CONTAINER_INIT_FD}`,
    '--',
    ...plan.argv,
  );
  return a;
}
