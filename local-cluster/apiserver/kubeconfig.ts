// The kubeconfig kubectl and client-node use to reach the API server (verified TLS + bearer token).
import { stringify } from 'yaml';

export function kubeconfigYaml(url: string, caCertPem: string, token: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'local',
        cluster: { server: url, 'certificate-authority-data': Buffer.from(caCertPem).toString('base64') },
      },
    ],
    users: [{ name: 'admin', user: { token } }],
    contexts: [{ name: 'local', context: { cluster: 'local', user: 'admin', namespace: 'default' } }],
    'current-context': 'local',
  });
}
