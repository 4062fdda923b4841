// Kubeconfigs of service accounts (a token from the API server's TokenRequest API, so RBAC applies)
// for what the local cluster runs in its own process on an account's behalf: the ApiServerSource
// adapter. Pods get their credentials the Kubernetes way instead: the projected kube-api-access
// volume the ServiceAccount admission plugin adds.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';

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
