// Pure translation of a Pod's first container into what the node agent runs: the command line
// (the image's entrypoint and cmd unless the pod overrides them, $(VAR) expansion), the
// environment (image env, env, valueFrom secretKeyRef/configMapKeyRef/fieldRef, envFrom), the
// security context (user, groups, read-only root, capabilities) and every volume at its
// mountPath. Nothing is rewritten: the sandbox (sandbox.ts) shows the container its own paths.
import type { ImageRootfs } from './images.ts';

export interface EnvVarSource {
  secretKeyRef?: { name: string; key: string; optional?: boolean };
  configMapKeyRef?: { name: string; key: string; optional?: boolean };
  fieldRef?: { fieldPath: string };
}
export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: EnvVarSource;
}
export interface EnvFromSource {
  prefix?: string;
  secretRef?: { name: string; optional?: boolean };
  configMapRef?: { name: string; optional?: boolean };
}
export interface VolumeMount {
  name: string;
  mountPath: string;
  subPath?: string;
  readOnly?: boolean;
}
export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
  volumeMounts?: VolumeMount[];
  /** Block-mode claims shown as a device at devicePath. */
  volumeDevices?: { name: string; devicePath: string }[];
  workingDir?: string;
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  securityContext?: ContainerSecurityContext;
}
export interface ContainerSecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  privileged?: boolean;
  capabilities?: { add?: string[]; drop?: string[] };
}
export interface PodSecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  fsGroup?: number;
  supplementalGroups?: number[];
}
export interface KeyToPath {
  key: string;
  path: string;
  mode?: number;
}
export interface Volume {
  name: string;
  persistentVolumeClaim?: { claimName: string; readOnly?: boolean };
  secret?: { secretName: string; items?: KeyToPath[]; optional?: boolean; defaultMode?: number };
  configMap?: { name: string; items?: KeyToPath[]; optional?: boolean; defaultMode?: number };
  emptyDir?: { medium?: string; sizeLimit?: string };
  projected?: { sources: ProjectedSource[]; defaultMode?: number };
}
/** A source of a projected volume (what the ServiceAccount admission plugin adds: kube-api-access-*). */
export interface ProjectedSource {
  serviceAccountToken?: { path: string; audience?: string; expirationSeconds?: number };
  configMap?: { name: string; items?: KeyToPath[]; optional?: boolean };
  secret?: { name: string; items?: KeyToPath[]; optional?: boolean };
  downwardAPI?: { items: { path: string; fieldRef?: { fieldPath: string }; mode?: number }[] };
}
export interface PodSpec {
  containers: Container[];
  volumes?: Volume[];
  restartPolicy?: 'Always' | 'OnFailure' | 'Never';
  serviceAccountName?: string;
  securityContext?: PodSecurityContext;
  hostname?: string;
  activeDeadlineSeconds?: number;
  terminationGracePeriodSeconds?: number;
}

/** Secret data is base64 (as the API returns it); ConfigMap data is plain text. */
export interface ConfigSources {
  secrets: Record<string, Record<string, string> | undefined>;
  configMaps: Record<string, Record<string, string> | undefined>;
  /** A token of the pod's service account bound to the pod (TokenRequest), for projected volumes. */
  serviceAccountToken?: string;
}

export interface PodIdentity {
  name: string;
  namespace: string;
  uid: string;
  podIp: string;
  hostIp: string;
  nodeName: string;
  serviceAccountName: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface VolumeLayout {
  /** Directory of a PVC's data. */
  pvcDir(claimName: string): string;
  /** Per-pod directory for a secret/configMap/emptyDir/projected volume. */
  podVolumeDir(volumeName: string): string;
}

export interface FileToWrite {
  path: string;
  content: Buffer;
  mode: number;
}

/** One volumeMount: a host directory shown at `mountPath`. */
export interface MountPlan {
  source: string;
  mountPath: string;
  readOnly: boolean;
  /** Whether the kubelet applies fsGroup ownership to it (writable PVCs, emptyDirs, config volumes). */
  ownedByFsGroup: boolean;
}

export interface ContainerPlan {
  argv: string[];
  env: Record<string, string>;
  workingDir: string;
  uid: number;
  gid: number;
  /** Supplementary groups: fsGroup and supplementalGroups. */
  groups: number[];
  fsGroup?: number;
  readOnlyRootFilesystem: boolean;
  noNewPrivileges: boolean;
  /** Capabilities left to the process (upper-case, without CAP_). */
  capabilities: string[];
  rootfs: ImageRootfs;
  mounts: MountPlan[];
  /** Content of secret/configMap/projected volumes, written before the container starts. */
  files: FileToWrite[];
  /** Host directories created before the container starts (emptyDirs are world-writable). */
  directories: { path: string; mode: number }[];
  claims: string[];
  /** Block-mode claims the container gets as a device (volumeDevices). */
  devices: { claim: string; devicePath: string }[];
}

export class PodSpecError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

function decodeSecret(value: string): Buffer {
  return Buffer.from(value, 'base64');
}

function lookup(
  sources: ConfigSources,
  kind: 'secret' | 'configMap',
  name: string,
): Record<string, string> | undefined {
  return kind === 'secret' ? sources.secrets[name] : sources.configMaps[name];
}

export function fieldValue(pod: PodIdentity, fieldPath: string): string {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (m) return (m[1] === 'labels' ? pod.labels : pod.annotations)[m[2]!] ?? '';
  switch (fieldPath) {
    case 'metadata.name':
      return pod.name;
    case 'metadata.namespace':
      return pod.namespace;
    case 'metadata.uid':
      return pod.uid;
    case 'status.podIP':
      return pod.podIp;
    case 'status.hostIP':
      return pod.hostIp;
    case 'spec.nodeName':
      return pod.nodeName;
    case 'spec.serviceAccountName':
      return pod.serviceAccountName;
    default:
      throw new PodSpecError('CreateContainerConfigError', `unsupported fieldRef ${fieldPath}`);
  }
}

/** Kubernetes $(VAR) expansion: defined variables are replaced, $$ escapes, unknown stay as is. */
export function expandVars(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name: string | undefined) => {
    if (whole === '$$') return '$';
    return name !== undefined && Object.prototype.hasOwnProperty.call(vars, name) ? vars[name]! : whole;
  });
}

export function resolveEnv(
  container: Container,
  pod: PodIdentity,
  sources: ConfigSources,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    const kind = from.secretRef ? 'secret' : 'configMap';
    const ref = from.secretRef ?? from.configMapRef;
    if (!ref) continue;
    const data = lookup(sources, kind, ref.name);
    if (!data) {
      if (ref.optional) continue;
      throw new PodSpecError('CreateContainerConfigError', `${kind} "${ref.name}" not found`);
    }
    for (const [k, v] of Object.entries(data)) {
      env[`${from.prefix ?? ''}${k}`] = kind === 'secret' ? decodeSecret(v).toString('utf8') : v;
    }
  }
  for (const e of container.env ?? []) {
    if (e.valueFrom?.secretKeyRef || e.valueFrom?.configMapKeyRef) {
      const kind = e.valueFrom.secretKeyRef ? 'secret' : 'configMap';
      const ref = (e.valueFrom.secretKeyRef ?? e.valueFrom.configMapKeyRef)!;
      const data = lookup(sources, kind, ref.name);
      const raw = data?.[ref.key];
      if (raw === undefined) {
        if (ref.optional) continue;
        throw new PodSpecError(
          'CreateContainerConfigError',
          data
            ? `couldn't find key ${ref.key} in ${kind} ${pod.namespace}/${ref.name}`
            : `${kind} "${ref.name}" not found`,
        );
      }
      env[e.name] = kind === 'secret' ? decodeSecret(raw).toString('utf8') : raw;
    } else if (e.valueFrom?.fieldRef) {
      env[e.name] = fieldValue(pod, e.valueFrom.fieldRef.fieldPath);
    } else {
      env[e.name] = expandVars(e.value ?? '', env);
    }
  }
  return env;
}

function projectedFiles(
  dir: string,
  data: Record<string, string>,
  isSecret: boolean,
  items: KeyToPath[] | undefined,
  defaultMode: number,
): FileToWrite[] {
  const entries = items ?? Object.keys(data).map((key) => ({ key, path: key, mode: undefined }));
  return entries.map((it) => {
    const value = data[it.key];
    if (value === undefined) throw new PodSpecError('CreateContainerConfigError', `key ${it.key} not found`);
    return {
      path: `${dir}/${it.path}`,
      content: isSecret ? decodeSecret(value) : Buffer.from(value, 'utf8'),
      mode: it.mode ?? defaultMode,
    };
  });
}

function projectedVolumeFiles(
  dir: string,
  volume: NonNullable<Volume['projected']>,
  pod: PodIdentity,
  sources: ConfigSources,
): FileToWrite[] {
  const mode = volume.defaultMode ?? 0o644;
  const files: FileToWrite[] = [];
  for (const src of volume.sources) {
    if (src.serviceAccountToken) {
      if (!sources.serviceAccountToken)
        throw new PodSpecError('CreateContainerConfigError', 'no service-account token could be requested');
      files.push({
        path: `${dir}/${src.serviceAccountToken.path}`,
        content: Buffer.from(sources.serviceAccountToken),
        mode,
      });
    } else if (src.configMap || src.secret) {
      const isSecret = Boolean(src.secret);
      const ref = (src.secret ?? src.configMap)!;
      const data = lookup(sources, isSecret ? 'secret' : 'configMap', ref.name);
      if (!data) {
        if (ref.optional) continue;
        throw new PodSpecError(
          'CreateContainerConfigError',
          `${isSecret ? 'secret' : 'configmap'} "${ref.name}" not found`,
        );
      }
      files.push(...projectedFiles(dir, data, isSecret, ref.items, mode));
    } else if (src.downwardAPI) {
      for (const item of src.downwardAPI.items) {
        if (!item.fieldRef) continue;
        files.push({
          path: `${dir}/${item.path}`,
          content: Buffer.from(fieldValue(pod, item.fieldRef.fieldPath)),
          mode: item.mode ?? mode,
        });
      }
    }
  }
  return files;
}

/** What the container runtime grants a container by default (containerd's and CRI-O's set). */
export const DEFAULT_CAPABILITIES = [
  'CHOWN',
  'DAC_OVERRIDE',
  'FSETID',
  'FOWNER',
  'MKNOD',
  'NET_RAW',
  'SETGID',
  'SETUID',
  'SETFCAP',
  'SETPCAP',
  'NET_BIND_SERVICE',
  'SYS_CHROOT',
  'KILL',
  'AUDIT_WRITE',
];

function effectiveCapabilities(sc: ContainerSecurityContext | undefined): string[] {
  const norm = (c: string) => c.toUpperCase().replace(/^CAP_/, '');
  const drop = new Set((sc?.capabilities?.drop ?? []).map(norm));
  const kept = drop.has('ALL') ? [] : DEFAULT_CAPABILITIES.filter((c) => !drop.has(c));
  return [...new Set([...kept, ...(sc?.capabilities?.add ?? []).map(norm)])];
}

/** Kubernetes' precedence: argv from command/args, falling back to the image's entrypoint/cmd. */
export function containerArgv(
  container: Container,
  image: Pick<ImageRootfs, 'entrypoint' | 'cmd'>,
): string[] {
  if (container.command?.length) return [...container.command, ...(container.args ?? [])];
  return [...image.entrypoint, ...(container.args?.length ? container.args : image.cmd)];
}

export function planContainer(
  spec: PodSpec,
  pod: PodIdentity,
  sources: ConfigSources,
  layout: VolumeLayout,
  image: ImageRootfs,
  /** What the kubelet adds (HOSTNAME, KUBERNETES_SERVICE_*): below the container's own env. */
  kubeletEnv: Record<string, string>,
): ContainerPlan {
  const container = spec.containers[0];
  if (!container) throw new PodSpecError('InvalidPodSpec', 'the pod has no container');
  const podSc = spec.securityContext ?? {};
  const sc = container.securityContext ?? {};
  if (sc.privileged)
    throw new PodSpecError('CreateContainerConfigError', 'privileged containers are not run');
  const uid = sc.runAsUser ?? podSc.runAsUser ?? image.user.uid;
  const userGiven = sc.runAsUser !== undefined || podSc.runAsUser !== undefined;
  const gid =
    sc.runAsGroup ??
    podSc.runAsGroup ??
    (userGiven ? (image.users.find((u) => u.uid === uid)?.gid ?? 0) : image.user.gid);
  if ((sc.runAsNonRoot ?? podSc.runAsNonRoot) && uid === 0) {
    // The kubelet's verifyRunAsNonRoot (pkg/kubelet/kuberuntime/security_context_others.go).
    throw new PodSpecError(
      'CreateContainerConfigError',
      sc.runAsUser !== undefined || podSc.runAsUser !== undefined
        ? `container's runAsUser breaks non-root policy (pod: "${pod.name}_${pod.namespace}(${pod.uid})", container: ${container.name})`
        : 'container has runAsNonRoot and image will run as root',
    );
  }
  const fsGroup = podSc.fsGroup;
  const groups = [
    ...new Set([...(fsGroup !== undefined ? [fsGroup] : []), ...(podSc.supplementalGroups ?? [])]),
  ];

  const argv = containerArgv(container, image);
  if (argv.length === 0)
    throw new PodSpecError('CreateContainerError', `container ${container.name}: no command specified`);

  const volumes = new Map((spec.volumes ?? []).map((v) => [v.name, v]));
  const mounts: MountPlan[] = [];
  const files: FileToWrite[] = [];
  const directories: { path: string; mode: number }[] = [];
  const claims: string[] = [];
  for (const vm of container.volumeMounts ?? []) {
    const v = volumes.get(vm.name);
    if (!v) throw new PodSpecError('InvalidPodSpec', `volumeMount ${vm.name} has no volume`);
    let dir: string;
    let readOnly = Boolean(vm.readOnly);
    let ownedByFsGroup = true;
    if (v.persistentVolumeClaim) {
      dir = layout.pvcDir(v.persistentVolumeClaim.claimName);
      claims.push(v.persistentVolumeClaim.claimName);
      readOnly ||= Boolean(v.persistentVolumeClaim.readOnly);
      // The kubelet leaves a read-only volume's ownership as it is (csi_mounter.go supportsFSGroup).
      ownedByFsGroup = !readOnly;
    } else if (v.secret || v.configMap) {
      dir = layout.podVolumeDir(v.name);
      // Secret, ConfigMap, projected and downwardAPI volumes are always mounted read-only.
      readOnly = true;
      directories.push({ path: dir, mode: 0o755 });
      const isSecret = Boolean(v.secret);
      const name = v.secret ? v.secret.secretName : v.configMap!.name;
      const data = lookup(sources, isSecret ? 'secret' : 'configMap', name);
      if (!data) {
        if (!(v.secret?.optional ?? v.configMap?.optional)) {
          throw new PodSpecError(
            'CreateContainerConfigError',
            `${isSecret ? 'secret' : 'configmap'} "${name}" not found`,
          );
        }
      } else {
        const items = v.secret?.items ?? v.configMap?.items;
        const mode = (v.secret?.defaultMode ?? v.configMap?.defaultMode ?? 0o644) & 0o777;
        files.push(...projectedFiles(dir, data, isSecret, items, mode));
      }
    } else if (v.emptyDir) {
      dir = layout.podVolumeDir(v.name);
      // emptyDir is created world-writable (pkg/volume/emptydir/empty_dir.go: perm 0777).
      directories.push({ path: dir, mode: 0o777 });
    } else if (v.projected) {
      dir = layout.podVolumeDir(v.name);
      readOnly = true;
      directories.push({ path: dir, mode: 0o755 });
      files.push(...projectedVolumeFiles(dir, v.projected, pod, sources));
    } else {
      throw new PodSpecError(
        'CreateContainerConfigError',
        `volume ${v.name} has a type the local cluster does not support`,
      );
    }
    if (vm.subPath) {
      if (vm.subPath.split('/').includes('..') || vm.subPath.startsWith('/'))
        throw new PodSpecError('CreateContainerConfigError', `subPath ${vm.subPath} must be a relative path`);
      dir = `${dir}/${vm.subPath}`;
      directories.push({ path: dir, mode: 0o755 });
    }
    mounts.push({ source: dir, mountPath: vm.mountPath, readOnly, ownedByFsGroup });
  }
  const devices: ContainerPlan['devices'] = [];
  for (const vd of container.volumeDevices ?? []) {
    const claim = volumes.get(vd.name)?.persistentVolumeClaim?.claimName;
    if (!claim)
      throw new PodSpecError(
        'CreateContainerConfigError',
        `volumeDevice ${vd.name} is not a persistentVolumeClaim`,
      );
    claims.push(claim);
    devices.push({ claim, devicePath: vd.devicePath });
  }

  const own = resolveEnv(container, pod, sources);
  const env: Record<string, string> = { ...image.env, ...kubeletEnv, ...own };
  if (env.HOME === undefined) env.HOME = image.users.find((u) => u.uid === uid)?.home ?? '/';
  return {
    argv: argv.map((a) => expandVars(a, env)),
    env,
    workingDir: container.workingDir || image.workingDir,
    uid,
    gid,
    groups,
    fsGroup,
    readOnlyRootFilesystem: Boolean(sc.readOnlyRootFilesystem),
    noNewPrivileges: sc.allowPrivilegeEscalation === false,
    capabilities: uid === 0 ? effectiveCapabilities(sc) : [],
    rootfs: image,
    mounts,
    files,
    directories,
    claims,
    devices,
  };
}
