// Pure translation of a Pod's first container into a local process: command line, environment
// (env, valueFrom secretKeyRef/configMapKeyRef/fieldRef, envFrom, $(VAR) expansion) and the
// volume mapping.
//
// Path mapping rule (documented in local-cluster/runtime/README.md): a container path cannot
// exist on the host, so every volumeMount's mountPath is given a local directory, and every
// occurrence of a mountPath as a path prefix (followed by "/" or the end of a word) in the
// command, args and env values is rewritten to that directory. Longer mount paths win.

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
  workingDir?: string;
  ports?: { name?: string; containerPort: number; protocol?: string }[];
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
  emptyDir?: Record<string, unknown>;
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
  serviceAccountName: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface VolumeLayout {
  /** Directory of a PVC's data. */
  pvcDir(claimName: string): string;
  /** Per-pod directory for a secret/configMap/emptyDir volume. */
  podVolumeDir(volumeName: string): string;
}

export interface FileToWrite {
  path: string;
  content: Buffer;
  mode: number;
}

export interface ProcessPlan {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
  files: FileToWrite[];
  directories: string[];
  /** mountPath -> local directory, for the logs and the README rule. */
  mounts: Record<string, string>;
  claims: string[];
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
    case 'status.hostIP':
      return pod.podIp;
    case 'spec.nodeName':
      return 'local';
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

export function rewriteMountPaths(text: string, mounts: Record<string, string>): string {
  const paths = Object.keys(mounts).sort((a, b) => b.length - a.length);
  if (paths.length === 0) return text;
  const escaped = paths.map((p) => p.replace(/\/+$/, '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const re = new RegExp(`(^|[^A-Za-z0-9_./-])(${escaped.join('|')})(?=/|$|[^A-Za-z0-9_.-])`, 'g');
  return text.replace(re, (_w, lead: string, p: string) => {
    const key = paths.find((k) => k.replace(/\/+$/, '') === p)!;
    return lead + mounts[key]!;
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

export interface PlanOptions {
  /** Node 22 binary used for commands starting with "node". */
  nodeBinary: string;
  /** Extra node flags for those commands (e.g. --import tsx --import <preload>). */
  nodeFlags: string[];
  projectRoot: string;
  baseEnv: Record<string, string>;
}

export function planContainerProcess(
  spec: PodSpec,
  pod: PodIdentity,
  sources: ConfigSources,
  layout: VolumeLayout,
  opts: PlanOptions,
): ProcessPlan {
  const container = spec.containers[0];
  if (!container) throw new PodSpecError('InvalidPodSpec', 'the pod has no container');
  const argv = [...(container.command ?? []), ...(container.args ?? [])];
  if (argv.length === 0) {
    throw new PodSpecError(
      'InvalidImageEntrypoint',
      `container ${container.name} has no command: the local cluster runs commands, not image entrypoints`,
    );
  }
  const volumes = new Map((spec.volumes ?? []).map((v) => [v.name, v]));
  const mounts: Record<string, string> = {};
  const files: FileToWrite[] = [];
  const directories: string[] = [];
  const claims: string[] = [];
  for (const vm of container.volumeMounts ?? []) {
    const v = volumes.get(vm.name);
    if (!v) throw new PodSpecError('InvalidPodSpec', `volumeMount ${vm.name} has no volume`);
    let dir: string;
    if (v.persistentVolumeClaim) {
      dir = layout.pvcDir(v.persistentVolumeClaim.claimName);
      claims.push(v.persistentVolumeClaim.claimName);
    } else if (v.secret || v.configMap) {
      dir = layout.podVolumeDir(v.name);
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
        files.push(...projectedFiles(dir, data, isSecret, items, 0o600));
      }
    } else if (v.emptyDir) {
      dir = layout.podVolumeDir(v.name);
    } else if (v.projected) {
      dir = layout.podVolumeDir(v.name);
      files.push(...projectedVolumeFiles(dir, v.projected, pod, sources));
    } else {
      throw new PodSpecError(
        'InvalidPodSpec',
        `volume ${v.name} has a type the local cluster does not support`,
      );
    }
    if (vm.subPath) dir = `${dir}/${vm.subPath}`;
    directories.push(dir);
    mounts[vm.mountPath] = dir;
  }
  const env = resolveEnv(container, pod, sources);
  const rewrittenEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) rewrittenEnv[k] = rewriteMountPaths(v, mounts);
  const expanded = argv.map((a) => rewriteMountPaths(expandVars(a, rewrittenEnv), mounts));
  let command = expanded[0]!;
  let args = expanded.slice(1);
  if (command === 'node' || command.endsWith('/node')) {
    command = opts.nodeBinary;
    args = [...opts.nodeFlags, ...args];
  }
  return {
    command,
    args,
    env: { ...opts.baseEnv, ...rewrittenEnv },
    // An image's working directory does not exist here; only a mounted one is honoured.
    cwd:
      container.workingDir && rewriteMountPaths(container.workingDir, mounts) !== container.workingDir
        ? rewriteMountPaths(container.workingDir, mounts)
        : opts.projectRoot,
    files,
    directories,
    mounts,
    claims,
  };
}
