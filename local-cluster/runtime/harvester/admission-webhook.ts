// Harvester's admission webhook as the API server calls it: a TLS server answering
// AdmissionReview v1, registered with a MutatingWebhookConfiguration and a
// ValidatingWebhookConfiguration (failurePolicy Fail, as Harvester's own webhook), so every
// client — functions, kubectl, tests — meets the rules of admission-rules.ts on the real
// kube-apiserver. Its own CA and serving certificate live in <dir>.
import { createServer, type Server } from 'node:https';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { ensureCertificate, ensureClusterCa } from '../../control-plane/certificates.ts';
import type { Kube, KubeObject } from '../../../functions/shared/kube/client.ts';
import {
  mutateImageCreate,
  validateImageCreate,
  validateImageDelete,
  validateImageUpdate,
  validateVmMacs,
  type ClaimObject,
  type Denial,
  type ImageObject,
  type JsonPatch,
  type NadObject,
  type StorageClassObject,
  type VmObject,
} from './admission-rules.ts';
import type { HarvesterBehaviour } from './versions.ts';

const MUTATE_PATH = '/v1/webhook/mutation';
const VALIDATE_PATH = '/v1/webhook/validation';
/** Names of Harvester's own configurations (deploy/charts/harvester: harvester-mutator/validator). */
const MUTATOR_NAME = 'harvester-mutator';
const VALIDATOR_NAME = 'harvester-validator';
const MAX_REVIEW_BYTES = 8 << 20;

interface AdmissionRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  namespace?: string;
  object?: KubeObject;
  oldObject?: KubeObject;
}

type Decision = { allowed: true; patch?: JsonPatch } | { allowed: false; denial: Denial };

export interface HarvesterWebhook {
  url: string;
  stop(): Promise<void>;
}

export class HarvesterAdmission {
  constructor(
    private readonly kube: Kube,
    readonly harvester: HarvesterBehaviour,
  ) {}

  private async items<T>(apiVersion: string, kind: string, namespace?: string): Promise<T[]> {
    return (await this.kube.listVersioned(apiVersion, kind, namespace)).items as T[];
  }

  async mutate(req: AdmissionRequest): Promise<Decision> {
    if (req.kind.kind !== 'VirtualMachineImage' || req.operation !== 'CREATE') return { allowed: true };
    const classes = await this.items<StorageClassObject>('storage.k8s.io/v1', 'StorageClass');
    const out = mutateImageCreate(req.object as ImageObject, classes, this.harvester);
    return 'denied' in out ? { allowed: false, denial: out.denied } : { allowed: true, patch: out.patch };
  }

  async validate(req: AdmissionRequest): Promise<Decision> {
    const denial = await this.denial(req);
    return denial ? { allowed: false, denial } : { allowed: true };
  }

  private async denial(req: AdmissionRequest): Promise<Denial | undefined> {
    if (req.kind.kind === 'VirtualMachineImage') {
      if (req.operation === 'CREATE')
        return validateImageCreate(
          req.object as ImageObject,
          await this.items<ImageObject>('harvesterhci.io/v1beta1', 'VirtualMachineImage', req.namespace),
        );
      if (req.operation === 'UPDATE')
        return validateImageUpdate(req.oldObject as ImageObject, req.object as ImageObject);
      if (req.operation === 'DELETE')
        return validateImageDelete(
          req.oldObject as ImageObject,
          await this.items<ClaimObject>('v1', 'PersistentVolumeClaim'),
          this.harvester,
        );
    }
    if (req.kind.kind === 'VirtualMachine' && (req.operation === 'CREATE' || req.operation === 'UPDATE'))
      return validateVmMacs(
        req.object as VmObject,
        await this.items<VmObject>('kubevirt.io/v1', 'VirtualMachine'),
        await this.items<NadObject>('k8s.cni.cncf.io/v1', 'NetworkAttachmentDefinition'),
        this.harvester,
      );
    return undefined;
  }
}

function review(uid: string, decision: Decision) {
  const response: Record<string, unknown> = { uid, allowed: decision.allowed };
  if (!decision.allowed)
    response.status = {
      code: decision.denial.code,
      reason: decision.denial.reason,
      message: decision.denial.message,
    };
  else if (decision.patch?.length) {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(JSON.stringify(decision.patch)).toString('base64');
  }
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}

async function register(kube: Kube, configuration: KubeObject): Promise<void> {
  const { apiVersion, kind, metadata } = configuration;
  const existing = await kube.find(apiVersion!, kind!, undefined, metadata!.name!);
  if (existing)
    await kube.replace({
      ...configuration,
      metadata: { ...metadata, resourceVersion: existing.metadata?.resourceVersion },
    });
  else await kube.create(configuration);
}

/** Starts the webhook server on 127.0.0.1 and registers it with the API server. */
export async function startHarvesterWebhook(options: {
  kube: Kube;
  harvester: HarvesterBehaviour;
  /** Where its CA and serving certificate are kept. */
  dir: string;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}): Promise<HarvesterWebhook> {
  const ca = await ensureClusterCa(options.dir, 'harvester webhook stand-in CA');
  const cert = await ensureCertificate(ca, {
    name: 'harvester-webhook',
    commonName: 'harvester-webhook.harvester-system.svc',
    hosts: ['127.0.0.1'],
    usage: 'server',
  });
  const admission = new HarvesterAdmission(options.kube, options.harvester);
  const server: Server = createServer(
    { cert: await readFile(cert.certPath), key: await readFile(cert.keyPath) },
    (req, res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_REVIEW_BYTES) req.destroy();
        else chunks.push(c);
      });
      req.on('end', () => {
        void (async () => {
          let uid = '';
          try {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request: AdmissionRequest };
            uid = body.request.uid;
            // The API server appends ?timeout=…s to the configured path.
            const path = new URL(req.url ?? '/', 'https://webhook').pathname;
            const decision =
              path === MUTATE_PATH
                ? await admission.mutate(body.request)
                : await admission.validate(body.request);
            if (!decision.allowed)
              options.log?.('harvester webhook denied', {
                kind: body.request.kind.kind,
                operation: body.request.operation,
                name: body.request.object?.metadata?.name ?? body.request.oldObject?.metadata?.name,
                message: decision.denial.message,
              });
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(JSON.stringify(review(uid, decision)));
          } catch (err) {
            const denial = { code: 500, reason: 'InternalError', message: String(err) };
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(JSON.stringify(review(uid, { allowed: false, denial })));
          }
        })();
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const caBundle = Buffer.from(ca.certPem).toString('base64');
  const common = {
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    failurePolicy: 'Fail',
    timeoutSeconds: 10,
  };
  const imageRule = (operations: string[]) => ({
    apiGroups: ['harvesterhci.io'],
    apiVersions: ['v1beta1'],
    resources: ['virtualmachineimages'],
    operations,
    scope: 'Namespaced',
  });
  // Replaced, not kept: a restarted cluster serves on a new port.
  await register(options.kube, {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: MUTATOR_NAME },
    webhooks: [
      {
        name: 'mutator.harvesterhci.io',
        clientConfig: { url: `${url}${MUTATE_PATH}`, caBundle },
        rules: [imageRule(['CREATE'])],
        reinvocationPolicy: 'Never',
        ...common,
      },
    ],
  } as KubeObject);
  await register(options.kube, {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: VALIDATOR_NAME },
    webhooks: [
      {
        name: 'validator.harvesterhci.io',
        clientConfig: { url: `${url}${VALIDATE_PATH}`, caBundle },
        rules: [
          imageRule(['CREATE', 'UPDATE', 'DELETE']),
          {
            apiGroups: ['kubevirt.io'],
            apiVersions: ['v1'],
            resources: ['virtualmachines'],
            operations: ['CREATE', 'UPDATE'],
            scope: 'Namespaced',
          },
        ],
        ...common,
      },
    ],
  } as KubeObject);
  return {
    url,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
