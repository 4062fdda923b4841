// Per function: its Knative Service, ServiceAccount and func.yaml, all from the routing table.
import {
  FUNCTION_NAMES,
  NAMESPACE,
  ROUTING,
  knativeServiceName,
  type FunctionName,
} from '../../events/routing.ts';
import { settings } from './settings.ts';
import { programCommand } from '../../functions/shared/image-programs.ts';

type Manifest = Record<string, unknown>;

export const SETTINGS_CONFIGMAP = 'vm-import-settings';
const FUNCTION_LABEL = 'functions.vm-import.harvesterhci.io/name';
/** faas-js-runtime listens on 8080 (Knative's default PORT). */
export const FUNCTION_PORT = 8080;

/** The command that serves a function (same in the container and on the local cluster). */
export const functionCommand = (fn: FunctionName): string[] => [...programCommand('functions'), fn];

export function settingsConfigMap(): Manifest {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: SETTINGS_CONFIGMAP, namespace: NAMESPACE },
    data: settings.runtime,
  };
}

export function knativeService(fn: FunctionName): Manifest {
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: {
      name: knativeServiceName(fn),
      namespace: NAMESPACE,
      labels: { [FUNCTION_LABEL]: fn, 'networking.knative.dev/visibility': 'cluster-local' },
      annotations: { description: ROUTING[fn].purpose },
    },
    spec: {
      template: {
        metadata: {
          labels: { [FUNCTION_LABEL]: fn },
          annotations: {
            'autoscaling.knative.dev/min-scale': '0',
            'autoscaling.knative.dev/max-scale': '5',
            // Concurrency-based autoscaling (KPA) with the hard limit below as the target.
            'autoscaling.knative.dev/class': 'kpa.autoscaling.knative.dev',
            'autoscaling.knative.dev/metric': 'concurrency',
          },
        },
        spec: {
          serviceAccountName: knativeServiceName(fn),
          timeoutSeconds: settings.functionTimeoutSeconds,
          containerConcurrency: 10,
          containers: [
            {
              name: 'function',
              image: settings.image,
              command: functionCommand(fn),
              ports: [{ containerPort: FUNCTION_PORT }],
              env: [{ name: 'FUNCTION_NAME', value: fn }],
              envFrom: [{ configMapRef: { name: SETTINGS_CONFIGMAP } }],
              // faas-js-runtime's endpoints; Knative allows only the container port here.
              readinessProbe: {
                httpGet: { path: '/health/readiness', port: FUNCTION_PORT },
                periodSeconds: 5,
                timeoutSeconds: 2,
                failureThreshold: 3,
              },
              livenessProbe: {
                httpGet: { path: '/health/liveness', port: FUNCTION_PORT },
                initialDelaySeconds: 10,
                periodSeconds: 20,
                timeoutSeconds: 2,
                failureThreshold: 3,
              },
              resources: {
                requests: { cpu: '50m', memory: '96Mi' },
                limits: { memory: '256Mi' },
              },
              securityContext: {
                runAsNonRoot: true,
                allowPrivilegeEscalation: false,
                capabilities: { drop: ['ALL'] },
                seccompProfile: { type: 'RuntimeDefault' },
              },
            },
          ],
        },
      },
    },
  };
}

export function serviceAccount(fn: FunctionName): Manifest {
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: knativeServiceName(fn), namespace: NAMESPACE },
  };
}

/** func.yaml of the Knative `func` CLI, consistent with the Knative Service above. */
export function funcYaml(fn: FunctionName): Manifest {
  return {
    specVersion: '0.36.0',
    name: knativeServiceName(fn),
    runtime: 'typescript',
    invoke: 'cloudevent',
    namespace: NAMESPACE,
    image: settings.image,
    run: { envs: [{ name: 'FUNCTION_NAME', value: fn }] },
    deploy: { namespace: NAMESPACE, serviceAccountName: knativeServiceName(fn) },
  };
}

export const functionNames = FUNCTION_NAMES;
