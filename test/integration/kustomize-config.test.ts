// config/ as a user applies it: `kubectl apply -k config/ --dry-run=client -o yaml` against the
// embedded API server (with the Knative, KubeVirt, Harvester and Multus CRDs a Harvester cluster
// with Knative has), and every rendered object — plus the objects the functions create at run time
// (export Job, scratch PVC, disk server, exporter access) — validated against the official schemas
// of its kind (kubernetes-models, @kubernetes-models/knative).
import {
  knativeEventingBuild,
  knativeEventingCrdFiles,
} from '../../local-cluster/runtime/knative/eventing-install.ts';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import * as apiextensions from 'kubernetes-models/apiextensions.k8s.io/v1';
import * as apps from 'kubernetes-models/apps/v1';
import * as batch from 'kubernetes-models/batch/v1';
import * as core from 'kubernetes-models/v1';
import * as rbac from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import * as eventing from '@kubernetes-models/knative/eventing.knative.dev/v1';
import * as serving from '@kubernetes-models/knative/serving.knative.dev/v1';
import * as sources from '@kubernetes-models/knative/sources.knative.dev/v1';
import { buildExportJob, buildScratchPvc, buildCredentialsSecret } from '../../functions/export/job-spec.ts';
import { exporterAccessObjects } from '../../functions/export/exporter-access.ts';
import { diskServerManifests } from '../../functions/shared/disk-server/workload.ts';
import type { VirtualMachineImport } from '../../functions/shared/api/index.ts';
import { thirdPartyCrdDir } from '../../local-cluster/components/crds.ts';
import { startTestApi, yamlFiles, type TestApi } from '../support/cluster-api.ts';

const ROOT = join(import.meta.dirname, '..', '..');
type Model = new (data: unknown) => { validate(): void };
const MODELS: Record<string, Record<string, unknown>> = {
  v1: core,
  'apps/v1': apps,
  'batch/v1': batch,
  'rbac.authorization.k8s.io/v1': rbac,
  'apiextensions.k8s.io/v1': apiextensions,
  'serving.knative.dev/v1': serving,
  'eventing.knative.dev/v1': eventing,
  'sources.knative.dev/v1': sources,
};

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
}

/** Schema errors of one object; throws when no official model exists for its kind. */
function schemaErrors(o: Obj): string | undefined {
  const model = MODELS[o.apiVersion]?.[o.kind] as Model | undefined;
  assert.ok(model, `no schema for ${o.apiVersion} ${o.kind}`);
  try {
    new model(o).validate();
    return undefined;
  } catch (e) {
    return `${o.kind} ${o.metadata.name}: ${(e as Error).message}`;
  }
}

let api: TestApi;
before(async () => {
  api = await startTestApi({ crds: false });
  // Knative Eventing's CRDs come with its release (the local cluster installs it whole).
  const files = [
    ...(await yamlFiles(await thirdPartyCrdDir())),
    ...(await knativeEventingCrdFiles(await knativeEventingBuild())),
  ];
  const r = await api.tryKubectl(['apply', '--server-side', ...files.flatMap((f) => ['-f', f])]);
  assert.equal(r.exitCode, 0, r.stderr);
});
after(() => api.close());

test('kubectl apply -k config/ --dry-run=client renders, and every object passes its schema', async () => {
  const r = await api.tryKubectl(['apply', '-k', join(ROOT, 'config'), '--dry-run=client', '-o', 'yaml']);
  assert.equal(r.exitCode, 0, r.stderr);
  const rendered = parse(r.stdout) as { kind: string; items: Obj[] };
  assert.equal(rendered.kind, 'List');
  const objects = rendered.items;
  const kinds = new Set(objects.map((o) => `${o.apiVersion} ${o.kind}`));
  for (const k of [
    'v1 Namespace',
    'apiextensions.k8s.io/v1 CustomResourceDefinition',
    'v1 ServiceAccount',
    'rbac.authorization.k8s.io/v1 ClusterRole',
    'rbac.authorization.k8s.io/v1 ClusterRoleBinding',
    'serving.knative.dev/v1 Service',
    'eventing.knative.dev/v1 Broker',
    'eventing.knative.dev/v1 Trigger',
    'sources.knative.dev/v1 ApiServerSource',
    'sources.knative.dev/v1 PingSource',
    'v1 ConfigMap',
  ])
    assert.ok(kinds.has(k), `config/ renders a ${k}`);
  const errors = objects.map(schemaErrors).filter(Boolean);
  assert.deepEqual(errors, []);
  console.log(`# ${objects.length} objects of ${kinds.size} kinds valid`);
});

test('kubectl kustomize output equals the files it lists (nothing dropped, namespace first)', async () => {
  const r = await api.tryKubectl(['kustomize', join(ROOT, 'config')]);
  assert.equal(r.exitCode, 0, r.stderr);
  const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj);
  assert.equal(docs[0]?.kind, 'Namespace');
  assert.ok(docs.length > 40, `${docs.length} objects`);
});

test('what the functions create at run time passes the schemas too', () => {
  const vmImport = {
    apiVersion: 'migration.harvesterhci.io/v1beta1',
    kind: 'VirtualMachineImport',
    metadata: { name: 'vm-1', namespace: 'team', uid: '0b6f5c9e-8d55-4d2c-9a53-3c1c3b0f3f11' },
    spec: { virtualMachineName: 'vm-1' },
  } as unknown as VirtualMachineImport;
  const { deployment, service } = diskServerManifests(vmImport, 'token', 'ghcr.io/vm-import/vm-import:0.1.0');
  const objects = [
    buildScratchPvc(vmImport, 12, 'harvester-longhorn'),
    buildCredentialsSecret(vmImport, { username: 'dXNlcg==' }),
    buildExportJob(vmImport, {
      image: 'ghcr.io/vm-import/vm-import:0.1.0',
      source: { kind: 'VmwareSource', namespace: 'default', name: 'vcsim' },
      credentialsSecret: 'vm-1-credentials',
      deadlineSeconds: 86400,
      env: { LOG_LEVEL: 'debug' },
    }),
    deployment,
    service,
    ...exporterAccessObjects('team', 'default'),
  ] as unknown as Obj[];
  assert.deepEqual(objects.map(schemaErrors).filter(Boolean), []);
  assert.equal(
    (deployment.spec.template.spec as { automountServiceAccountToken?: boolean })
      .automountServiceAccountToken,
    false,
  );
});

test('a broken manifest fails its schema (the validation is real)', () => {
  const bad = {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: { name: 'x' },
    spec: {
      template: { spec: { containers: [{ name: 'c', image: 'i', ports: [{ containerPort: 'http' }] }] } },
    },
  } as unknown as Obj;
  assert.match(schemaErrors(bad) ?? '', /containerPort/);
});

test('one kustomize `images:` override changes every workload: the functions and, through the settings ConfigMap, the export Job and the disk server', async () => {
  const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { relative } = await import('node:path');
  const { settings, vmImportImage } = await import('../../functions/shared/settings.ts');
  const overlay = await mkdtemp(join(tmpdir(), 'vm-import-overlay-'));
  try {
    const [name] = settings.image.split(':');
    await writeFile(
      join(overlay, 'kustomization.yaml'),
      `resources: [${relative(overlay, join(ROOT, 'config'))}]\nimages:\n  - name: ${name}\n    newName: registry.example.com/mirror/vm-import\n    newTag: "9.9.9"\n`,
    );
    const r = await api.tryKubectl(['kustomize', overlay]);
    assert.equal(r.exitCode, 0, r.stderr);
    const objects = parseAllDocuments(r.stdout).map((d) => d.toJSON() as Obj & Record<string, any>);
    const override = 'registry.example.com/mirror/vm-import:9.9.9';
    const functionImages = objects
      .filter((o) => o.kind === 'Service' && o.apiVersion === 'serving.knative.dev/v1')
      .map((o) => o.spec.template.spec.containers[0].image);
    assert.ok(functionImages.length > 0);
    assert.deepEqual([...new Set(functionImages)], [override]);
    const configMap = objects.find(
      (o) => o.kind === 'ConfigMap' && o.metadata.name === 'vm-import-settings',
    )!;
    // the functions get the ConfigMap as env; the Job and the disk server take their image from it
    const env = configMap.data as Record<string, string>;
    assert.equal(vmImportImage(env), override);
    const vmImport = {
      metadata: { name: 'web', namespace: 'default', uid: 'u' },
      spec: {},
    } as VirtualMachineImport;
    assert.equal(
      diskServerManifests(vmImport, 't', vmImportImage(env)).deployment.spec.template.spec.containers[0]!
        .image,
      override,
    );
  } finally {
    await rm(overlay, { recursive: true, force: true });
  }
});
