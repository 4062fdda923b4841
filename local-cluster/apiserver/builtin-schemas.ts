// Field lists of the built-in kinds (Kubernetes 1.32 API types), so that unknown fields in
// built-in objects are pruned, warned about, or rejected under fieldValidation=Strict the way the
// real API server's typed decoding does. Nested structures that are not listed are kept as they
// are (x-kubernetes-preserve-unknown-fields); only the listed levels are checked.
import type { JSONSchemaProps, ResourceInfo } from './types.ts';

const open: JSONSchemaProps = { 'x-kubernetes-preserve-unknown-fields': true };
const scalar: JSONSchemaProps = {};

/** An object with exactly these fields; a name mapped to `null` is a scalar, else its schema. */
function fields(spec: Record<string, JSONSchemaProps | null>): JSONSchemaProps {
  const properties: Record<string, JSONSchemaProps> = {};
  for (const [k, v] of Object.entries(spec)) properties[k] = v ?? scalar;
  return { type: 'object', properties };
}

function names(
  list: string,
  nested: Record<string, JSONSchemaProps> = {},
): Record<string, JSONSchemaProps | null> {
  const out: Record<string, JSONSchemaProps | null> = {};
  for (const n of list.split(/\s+/).filter(Boolean)) out[n] = open;
  return { ...out, ...nested };
}

const listOf = (item: JSONSchemaProps): JSONSchemaProps => ({ type: 'array', items: item });

const container = fields(
  names(
    'name image command args workingDir ports envFrom env resources resizePolicy restartPolicy volumeMounts volumeDevices livenessProbe readinessProbe startupProbe lifecycle terminationMessagePath terminationMessagePolicy imagePullPolicy securityContext stdin stdinOnce tty',
  ),
);

const podSpec = fields(
  names(
    'volumes restartPolicy terminationGracePeriodSeconds activeDeadlineSeconds dnsPolicy nodeSelector serviceAccountName serviceAccount automountServiceAccountToken nodeName hostNetwork hostPID hostIPC shareProcessNamespace securityContext imagePullSecrets hostname subdomain affinity schedulerName tolerations hostAliases priorityClassName priority dnsConfig readinessGates runtimeClassName enableServiceLinks preemptionPolicy overhead topologySpreadConstraints setHostnameAsFQDN os hostUsers schedulingGates resourceClaims resources',
    { containers: listOf(container), initContainers: listOf(container), ephemeralContainers: open },
  ),
);

const podTemplate = fields({ metadata: open, spec: podSpec });

const top = (extra: Record<string, JSONSchemaProps | null>): JSONSchemaProps =>
  fields({ apiVersion: null, kind: null, metadata: open, ...extra });

const SCHEMAS: Record<string, JSONSchemaProps> = {
  '/namespaces': top({ spec: fields({ finalizers: open }), status: open }),
  '/configmaps': top({ data: open, binaryData: open, immutable: null }),
  '/secrets': top({ data: open, stringData: open, type: null, immutable: null }),
  '/serviceaccounts': top({ secrets: open, imagePullSecrets: open, automountServiceAccountToken: null }),
  '/pods': top({ spec: podSpec, status: open }),
  '/services': top({
    spec: fields(
      names(
        'ports selector clusterIP clusterIPs type externalIPs sessionAffinity loadBalancerIP loadBalancerSourceRanges externalName externalTrafficPolicy healthCheckNodePort publishNotReadyAddresses sessionAffinityConfig ipFamilies ipFamilyPolicy allocateLoadBalancerNodePorts loadBalancerClass internalTrafficPolicy trafficDistribution',
      ),
    ),
    status: open,
  }),
  '/persistentvolumeclaims': top({
    spec: fields(
      names(
        'accessModes selector resources volumeName storageClassName volumeMode dataSource dataSourceRef volumeAttributesClassName',
      ),
    ),
    status: open,
  }),
  '/events': top(
    names(
      'involvedObject reason message source firstTimestamp lastTimestamp count type eventTime series action related reportingComponent reportingInstance',
    ),
  ),
  'batch/jobs': top({
    spec: fields(
      names(
        'parallelism completions activeDeadlineSeconds podFailurePolicy successPolicy backoffLimit backoffLimitPerIndex maxFailedIndexes selector manualSelector ttlSecondsAfterFinished completionMode suspend podReplacementPolicy managedBy',
        { template: podTemplate },
      ),
    ),
    status: open,
  }),
  'apps/deployments': top({
    spec: fields(
      names(
        'replicas selector strategy minReadySeconds revisionHistoryLimit paused progressDeadlineSeconds',
        { template: podTemplate },
      ),
    ),
    status: open,
  }),
  'storage.k8s.io/storageclasses': top(
    names(
      'provisioner parameters reclaimPolicy mountOptions allowVolumeExpansion volumeBindingMode allowedTopologies',
    ),
  ),
  'rbac.authorization.k8s.io/roles': top({ rules: open }),
  'rbac.authorization.k8s.io/clusterroles': top({ rules: open, aggregationRule: open }),
  'rbac.authorization.k8s.io/rolebindings': top({ subjects: open, roleRef: open }),
  'rbac.authorization.k8s.io/clusterrolebindings': top({ subjects: open, roleRef: open }),
  'apiextensions.k8s.io/customresourcedefinitions': top({
    spec: fields(names('group names scope versions conversion preserveUnknownFields')),
    status: open,
  }),
};

/** The field list of a built-in kind, or undefined where unknown fields are not checked. */
export function builtinSchema(info: ResourceInfo): JSONSchemaProps | undefined {
  if (info.crd) return undefined;
  return SCHEMAS[`${info.group}/${info.resource}`];
}
