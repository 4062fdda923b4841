// The disk server's Deployment and Service for one import. Pure manifest builders.
import { TOKEN_ANNOTATION } from '../labels.ts';
import { IMAGE_PROGRAMS } from '../image-programs.ts';
import { randomBytes } from 'node:crypto';
import type { VirtualMachineImport } from '../api/index.ts';
import { importLabels, importObjectNames, ownedByImport } from '../import-objects.ts';

export const DISK_SERVER_PORT = 8080;

export const newToken = (): string => randomBytes(24).toString('hex');

export function diskServerManifests(vmImport: VirtualMachineImport, token: string, image: string) {
  const names = importObjectNames(vmImport.metadata.name!);
  const namespace = vmImport.metadata.namespace ?? 'default';
  const selector = { app: names.diskServer };
  const labels = { ...importLabels(vmImport), ...selector };
  const owner = [ownedByImport(vmImport)];
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: names.diskServer, namespace, labels, ownerReferences: owner },
    spec: {
      replicas: 1,
      selector: { matchLabels: selector },
      template: {
        metadata: { labels },
        spec: {
          // It only serves files: no Kubernetes API credentials in the pod.
          automountServiceAccountToken: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 1000,
            fsGroup: 1000,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [
            {
              name: 'disk-server',
              image,
              command: ['node', IMAGE_PROGRAMS.diskServer.built],
              env: [
                { name: 'SCRATCH_DIR', value: '/scratch' },
                { name: 'PORT', value: String(DISK_SERVER_PORT) },
                { name: 'DISK_SERVER_TOKEN', value: token },
              ],
              ports: [{ containerPort: DISK_SERVER_PORT }],
              // It writes nothing: the root filesystem and scratch are read-only.
              volumeMounts: [{ name: 'scratch', mountPath: '/scratch', readOnly: true }],
              readinessProbe: { httpGet: { path: '/healthz', port: DISK_SERVER_PORT } },
              resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
            },
          ],
          volumes: [
            { name: 'scratch', persistentVolumeClaim: { claimName: names.scratchClaim, readOnly: true } },
          ],
        },
      },
    },
  };
  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: names.diskServer,
      namespace,
      labels,
      ownerReferences: owner,
      annotations: { [TOKEN_ANNOTATION]: token },
    },
    spec: { selector, ports: [{ name: 'http', port: 80, targetPort: DISK_SERVER_PORT }] },
  };
  return { deployment, service, networkPolicy: diskServerNetworkPolicy(vmImport, selector, labels, owner) };
}

/**
 * Only Harvester's downloaders may reach the disk server (its token is the second lock):
 *  - backend `backingimage`: Longhorn's backing-image data-source pod in longhorn-system, labelled
 *    by longhorn-manager (types/types.go GetBackingImageDataSourceLabels:
 *    longhorn.io/component=backing-image-data-source; its pods are named backing-image-ds-<name>);
 *  - backend `cdi`: CDI's importer pod in the import's namespace (containerized-data-importer
 *    pkg/common/common.go CDILabelKey/CDILabelValue app=containerized-data-importer and
 *    CDIComponentLabel=ImporterPodName, cdi.kubevirt.io=importer, set by import-controller.go),
 *    and before it Harvester's own controller in harvester-system, which reads the first 128
 *    bytes and a HEAD of the URL to size the DataVolume (harvester pkg/image/cdi/cdi.go
 *    initializeDownload, common.go fetchImageVirtualSize/fetchImageSize; the controllers run in
 *    the `harvester` Deployment's pods, labelled app.kubernetes.io/name=harvester and
 *    app.kubernetes.io/component=apiserver by deploy/charts/harvester/templates/deployment.yaml).
 * Enforcement needs a CNI that implements NetworkPolicy.
 */
function diskServerNetworkPolicy(
  vmImport: VirtualMachineImport,
  selector: Record<string, string>,
  labels: Record<string, string>,
  owner: ReturnType<typeof ownedByImport>[],
) {
  const names = importObjectNames(vmImport.metadata.name!);
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: names.diskServer,
      namespace: vmImport.metadata.namespace ?? 'default',
      labels,
      ownerReferences: owner,
    },
    spec: {
      podSelector: { matchLabels: selector },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'longhorn-system' } },
              podSelector: { matchLabels: { 'longhorn.io/component': 'backing-image-data-source' } },
            },
            {
              podSelector: {
                matchLabels: { app: 'containerized-data-importer', 'cdi.kubevirt.io': 'importer' },
              },
            },
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'harvester-system' } },
              podSelector: {
                matchLabels: {
                  'app.kubernetes.io/name': 'harvester',
                  'app.kubernetes.io/component': 'apiserver',
                },
              },
            },
          ],
          ports: [{ protocol: 'TCP', port: DISK_SERVER_PORT }],
        },
      ],
    },
  };
}

/** URL Harvester downloads disk `diskName` from: the server sends qcow2 or raw, whichever is smaller. */
export function diskUrl(vmImport: VirtualMachineImport, token: string, diskName: string): string {
  const names = importObjectNames(vmImport.metadata.name!);
  return `http://${names.diskServer}.${vmImport.metadata.namespace ?? 'default'}.svc/${token}/${encodeURIComponent(diskName)}`;
}
