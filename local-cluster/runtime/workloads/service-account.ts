// A pod's in-cluster credentials on the local cluster: the kubeconfig of its service account's
// token (from the API server's TokenRequest API, so RBAC applies to everything the pod does), none when
// automountServiceAccountToken is false, and the same refusal Kubernetes gives a pod whose service
// account does not exist.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { RuntimeContext } from '../context.ts';
import { PodSpecError } from './container-spec.ts';

/** The kubeconfig an in-cluster client gets: the API server, its CA, the token, the pod's namespace. */
export function serviceAccountKubeconfigYaml(
  url: string,
  caCertPem: string,
  token: string,
  namespace: string,
): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'in-cluster',
        cluster: { server: url, 'certificate-authority-data': Buffer.from(caCertPem).toString('base64') },
      },
    ],
    users: [{ name: 'service-account', user: { token } }],
    contexts: [
      { name: 'in-cluster', context: { cluster: 'in-cluster', user: 'service-account', namespace } },
    ],
    'current-context': 'in-cluster',
  });
}

/** Issues (once per service account) a token and writes its kubeconfig under `dir`. */
export function serviceAccountKubeconfigs(
  dir: string,
  api: {
    url: string;
    caCertPem: string;
    requestServiceAccountToken(namespace: string, name: string): Promise<string>;
  },
): (namespace: string, name: string) => Promise<string> {
  const written = new Map<string, Promise<string>>();
  return (namespace, name) => {
    const key = `${namespace}/${name}`;
    let path = written.get(key);
    if (!path) {
      path = (async () => {
        const file = join(dir, namespace, name, 'kubeconfig');
        await mkdir(join(dir, namespace, name), { recursive: true });
        const token = await api.requestServiceAccountToken(namespace, name);
        await writeFile(file, serviceAccountKubeconfigYaml(api.url, api.caCertPem, token, namespace), {
          mode: 0o600,
        });
        return file;
      })();
      written.set(key, path);
    }
    return path;
  };
}

/**
 * KUBECONFIG of a pod: its service account's, undefined when no token is mounted, or the admin
 * kubeconfig when the runtime has no token issuer.
 */
export async function podKubeconfig(
  ctx: RuntimeContext,
  namespace: string,
  spec: { serviceAccountName?: string; automountServiceAccountToken?: unknown },
): Promise<string | undefined> {
  if (!ctx.serviceAccountKubeconfig) return ctx.kubeconfigPath;
  const name = spec.serviceAccountName || 'default';
  const account = await ctx.kube.get('v1', 'ServiceAccount', name, namespace);
  // Kubernetes' ServiceAccount controller creates "default" in every namespace.
  if (!account && name !== 'default')
    throw new PodSpecError(
      'CreateContainerConfigError',
      `error looking up service account ${namespace}/${name}: serviceaccount "${name}" not found`,
    );
  const automount =
    spec.automountServiceAccountToken ??
    (account as { automountServiceAccountToken?: boolean } | undefined)?.automountServiceAccountToken;
  if (automount === false) return undefined;
  return ctx.serviceAccountKubeconfig(namespace, name);
}
