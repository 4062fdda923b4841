// Least-privilege RBAC, one ClusterRole per function (imports live in any namespace), read off
// each function's code: which Kube methods it calls on which kinds. Kube method → verb:
// get/find → get, list → list, create → create, ensure → create (+ get when it exists),
// replace → update, mergePatch → patch, delete → delete, replaceStatus → update on x/status,
// recordEvent → create events. The permission table in the README is rendered from this too.
import { FUNCTION_NAMES, NAMESPACE, knativeServiceName, type FunctionName } from '../../events/routing.ts';
import {
  EXPORTER_CLUSTER_ROLE,
  EXPORTER_SOURCE_CLUSTER_ROLE,
} from '../../functions/export/exporter-access.ts';
import { EXPORTER_SERVICE_ACCOUNT } from '../../functions/export/job-spec.ts';
import { KINDS, SOURCE_KINDS } from '../../functions/shared/api/index.ts';
import { PART_OF, PART_OF_LABEL } from '../../functions/shared/labels.ts';

type Manifest = Record<string, unknown>;

export interface Grant {
  apiGroup: string;
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
  /** Where the code uses it. */
  why: string;
}

const MIGRATION = 'migration.harvesterhci.io';
const SOURCES = SOURCE_KINDS.map((k) => KINDS[k].plural);
const RBAC_GROUP = 'rbac.authorization.k8s.io';

const grant = (
  apiGroup: string,
  resources: string[],
  verbs: string[],
  why: string,
  resourceNames?: string[],
): Grant => ({ apiGroup, resources, verbs, why, ...(resourceNames ? { resourceNames } : {}) });

/** What every phase function does through shared/phase-function.ts. */
const IMPORT_STEP: Grant[] = [
  grant(MIGRATION, ['virtualmachineimports'], ['get'], 'phase-function: re-reads the import'),
  grant(MIGRATION, ['virtualmachineimports/status'], ['update'], 'phase-function: writes the phase'),
  grant('', ['events'], ['create'], 'kube/events: an Event per transition'),
];

/** shared/scratch.ts freeScratch: the export Job, the disk server, scratch and credentials copy. */
const FREE_SCRATCH: Grant[] = [
  grant('batch', ['jobs'], ['delete'], 'scratch: deletes the export Job'),
  grant('apps', ['deployments'], ['delete'], 'scratch: deletes the disk server'),
  grant(
    '',
    ['services', 'secrets'],
    ['delete'],
    'scratch: deletes the disk server Service and a credentials copy an earlier version made',
  ),
  grant('', ['persistentvolumeclaims'], ['delete'], 'scratch: deletes the scratch volume'),
];

/** phase-function.ts: the function that fails an import frees what the export held (freeScratch). */
const SOURCE_VM_DELETE = grant('', ['configmaps'], ['delete'], 'a failed import: the source VM description');

/**
 * shared/source-power-on.ts: the function that fails an import (through phase-function.ts) and
 * cleanup power the source back on through its adapter.
 */
const POWER_ON: Grant[] = [
  grant(MIGRATION, SOURCES, ['get'], 'source-power-on: the source of an import that ends without its VM'),
  grant('', ['secrets'], ['get'], 'source-power-on: the source credentials'),
  grant(MIGRATION, ['virtualmachineimports'], ['list'], 'source-power-on: another import holds the VM'),
];

/** shared/disk-server/images.ts ensureDiskServer + imagesByDisk + submitImage, from the images function. */
const DISK_SERVER_AND_IMAGES: Grant[] = [
  grant('', ['services'], ['get', 'create'], 'ensureDiskServer: disk server Service'),
  grant(
    'apps',
    ['deployments'],
    ['get', 'create'],
    'ensureDiskServer: disk server Deployment (and readiness)',
  ),
  grant(
    'networking.k8s.io',
    ['networkpolicies'],
    ['get', 'create'],
    "ensureDiskServer: only Harvester's downloaders reach the disk server",
  ),
  grant('harvesterhci.io', ['virtualmachineimages'], ['list', 'create'], 'imagesByDisk, submitImage'),
  grant(
    'storage.k8s.io',
    ['storageclasses'],
    ['list'],
    'targetStorage: the image backend follows the target (or default) class',
  ),
];

export const FUNCTION_PERMISSIONS: Record<FunctionName, Grant[]> = {
  'verify-source': [
    grant(MIGRATION, SOURCES, ['get'], 're-reads the source'),
    grant(
      MIGRATION,
      SOURCES.map((s) => `${s}/status`),
      ['update'],
      'writes clusterReady/clusterNotReady',
    ),
    grant('', ['secrets'], ['get'], 'sources/source-target: reads the credentials Secret'),
    grant('', ['events'], ['create'], 'an Event per verification'),
  ],
  preflight: [
    ...IMPORT_STEP,
    grant(MIGRATION, ['virtualmachineimports'], ['patch'], 'adds the finalizer'),
    grant(MIGRATION, SOURCES, ['get'], 'the source exists and is ready'),
    grant(
      '',
      ['secrets'],
      ['get'],
      "sources/source-target: the source credentials for the adapter's preflight",
    ),
    grant('k8s.cni.cncf.io', ['network-attachment-definitions'], ['get'], 'networkMapping targets exist'),
    grant('storage.k8s.io', ['storageclasses'], ['get'], 'spec.storageClass exists'),
    grant('kubevirt.io', ['virtualmachines'], ['get'], 'spec.targetName is free'),
    grant('storage.k8s.io', ['storageclasses'], ['list'], 'capacity-facts: the target and scratch classes'),
    grant('', ['resourcequotas'], ['list'], 'capacity-facts: storage quotas of the namespace'),
    grant('longhorn.io', ['nodes', 'settings'], ['list'], 'capacity-facts: Longhorn schedulable space'),
    grant('storage.k8s.io', ['csistoragecapacities'], ['list'], 'capacity-facts: third-party class capacity'),
  ],
  sanitize: [
    ...IMPORT_STEP,
    grant(MIGRATION, ['virtualmachineimports'], ['list'], 'target names other imports took'),
    grant(MIGRATION, SOURCES, ['get'], 'the source of the import'),
    grant(
      '',
      ['secrets'],
      ['get'],
      "sources/source-target: credentials for the adapter's resolveVmName (an OpenStack server UUID)",
    ),
    grant('kubevirt.io', ['virtualmachines'], ['list'], 'target names taken by VMs'),
  ],
  export: [
    ...IMPORT_STEP,
    grant(MIGRATION, SOURCES, ['get'], 'the source of the import'),
    grant('batch', ['jobs'], ['get', 'list', 'create'], 'the export Job; running Jobs per source'),
    grant(MIGRATION, ['virtualmachineimports'], ['list'], 'queue: imports waiting for the same source'),
    grant(MIGRATION, ['virtualmachineimports'], ['patch'], 'queue: wakes the next queued imports'),
    grant('', ['secrets'], ['get'], "reads the source's credentials (never copied: README Security)"),
    grant('', ['persistentvolumeclaims'], ['get', 'create'], 'the scratch volume'),
    grant('', ['serviceaccounts'], ['get', 'create'], 'exporter-access: vm-import-exporter'),
    grant(RBAC_GROUP, ['rolebindings'], ['get', 'create'], 'exporter-access: the exporter bindings'),
    grant(RBAC_GROUP, ['clusterroles'], ['bind'], 'exporter-access: may bind only the exporter roles', [
      EXPORTER_CLUSTER_ROLE,
      EXPORTER_SOURCE_CLUSTER_ROLE,
    ]),
  ],
  'export-status': [
    ...IMPORT_STEP,
    grant('batch', ['jobs'], ['get'], 'the export Job and its conditions'),
    ...POWER_ON,
    ...FREE_SCRATCH,
    SOURCE_VM_DELETE,
  ],
  // It fails an import when Harvester refuses its image (phase-function frees the export then).
  images: [...IMPORT_STEP, ...DISK_SERVER_AND_IMAGES, ...POWER_ON, ...FREE_SCRATCH, SOURCE_VM_DELETE],
  'image-status': [
    ...IMPORT_STEP,
    ...DISK_SERVER_AND_IMAGES,
    grant('harvesterhci.io', ['virtualmachineimages'], ['delete'], 'resubmit: deletes the failed image'),
    ...POWER_ON,
    ...FREE_SCRATCH,
    SOURCE_VM_DELETE,
  ],
  vm: [
    ...IMPORT_STEP,
    grant('', ['configmaps'], ['get'], 'the source VM description the exporter wrote'),
    grant('kubevirt.io', ['virtualmachines'], ['get', 'create'], 'the KubeVirt VM'),
    grant('kubevirt.io', ['virtualmachines'], ['list'], 'vm-name: a new name when the chosen one was taken'),
    grant(MIGRATION, ['virtualmachineimports'], ['list'], 'vm-name: names other imports hold'),
    grant('harvesterhci.io', ['virtualmachineimages'], ['list'], 'imagesByDisk'),
    grant('', ['persistentvolumeclaims'], ['get', 'create'], 'a volume per disk from its image'),
    ...FREE_SCRATCH,
    SOURCE_VM_DELETE,
    ...POWER_ON,
  ],
  'vm-status': [
    ...IMPORT_STEP,
    grant('kubevirt.io', ['virtualmachines'], ['get'], 'is the VM ready'),
    grant('harvesterhci.io', ['virtualmachineimages'], ['list'], 'imagesByDisk'),
    grant(
      'harvesterhci.io',
      ['virtualmachineimages'],
      ['patch'],
      'images outlive the import: their owners, merge-patched',
    ),
    grant(
      'harvesterhci.io',
      ['virtualmachineimages'],
      ['delete'],
      "OwnerReferencesPermissionEnforcement: removing the import's owner reference from an image needs delete on it",
    ),
    grant('', ['configmaps'], ['delete'], 'the source VM description'),
    ...FREE_SCRATCH,
    ...POWER_ON,
  ],
  cleanup: [
    grant(MIGRATION, ['virtualmachineimports'], ['get'], 'phase-function: re-reads the import'),
    grant(MIGRATION, ['virtualmachineimports'], ['patch'], 'removes its and upstream finalizer'),
    grant('', ['events'], ['create'], 'CleanedUp Event'),
    grant('kubevirt.io', ['virtualmachines'], ['list', 'delete'], 'VMs of an unfinished import'),
    grant('', ['persistentvolumeclaims'], ['list'], 'volumes of an unfinished import'),
    grant('harvesterhci.io', ['virtualmachineimages'], ['list', 'delete'], 'images of an unfinished import'),
    grant('', ['configmaps'], ['delete'], 'the source VM description'),
    ...FREE_SCRATCH,
    grant('batch', ['jobs'], ['get'], 'the export Job is gone before the source is powered on'),
    grant(MIGRATION, ['virtualmachineimports/status'], ['update'], 'the SourcePoweredOn condition'),
    ...POWER_ON,
  ],
  resync: [
    grant(
      MIGRATION,
      [...SOURCES, 'virtualmachineimports'],
      ['list', 'patch'],
      'touches every non-terminal object',
    ),
  ],
  'dead-letter': [grant('', ['events'], ['create'], 'EventDeliveryFailed on the object')],
};

/** The export Job (functions/export/job), bound per namespace by the export function. */
export const EXPORTER_PERMISSIONS: Grant[] = [
  grant(MIGRATION, ['virtualmachineimports'], ['get'], 'status-writer: re-reads the import'),
  grant(MIGRATION, ['virtualmachineimports/status'], ['update'], 'status-writer: progress and conditions'),
  grant('', ['configmaps'], ['get', 'create', 'update'], 'exporter: the source VM description'),
];
export const EXPORTER_SOURCE_PERMISSIONS: Grant[] = [
  grant(MIGRATION, SOURCES, ['get'], 'exporter: reads the source (in its own namespace)'),
];

/** Merges grants with the same group, verbs and resourceNames into one rule each. */
export function rulesOf(grants: Grant[]): Manifest[] {
  const rules = new Map<
    string,
    { apiGroups: string[]; resources: Set<string>; verbs: string[]; resourceNames?: string[] }
  >();
  for (const gr of grants) {
    const verbs = [...gr.verbs].sort();
    const key = JSON.stringify([gr.apiGroup, verbs, gr.resourceNames ?? []]);
    const rule = rules.get(key) ?? {
      apiGroups: [gr.apiGroup],
      resources: new Set<string>(),
      verbs,
      ...(gr.resourceNames ? { resourceNames: [...gr.resourceNames].sort() } : {}),
    };
    for (const r of gr.resources) rule.resources.add(r);
    rules.set(key, rule);
  }
  return [...rules.values()]
    .map((r) => ({ ...r, resources: [...r.resources].sort() }))
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

const LABELS = { [PART_OF_LABEL]: PART_OF };

export function clusterRole(name: string, grants: Grant[]): Manifest {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name, labels: LABELS },
    rules: rulesOf(grants),
  };
}

/** The function's ClusterRole and its binding to the function's ServiceAccount. */
export function functionRbac(fn: FunctionName): Manifest[] {
  const name = knativeServiceName(fn);
  return [
    clusterRole(name, FUNCTION_PERMISSIONS[fn]),
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name, labels: LABELS },
      roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name },
      subjects: [{ kind: 'ServiceAccount', name, namespace: NAMESPACE }],
    },
  ];
}

/** ClusterRoles the export function binds in import (and source) namespaces. */
export function exporterClusterRoles(): Manifest[] {
  return [
    clusterRole(EXPORTER_CLUSTER_ROLE, EXPORTER_PERMISSIONS),
    clusterRole(EXPORTER_SOURCE_CLUSTER_ROLE, EXPORTER_SOURCE_PERMISSIONS),
  ];
}

/** Markdown table: who may do what (README "Install on Harvester"), padded as prettier pads it. */
export function permissionTable(): string {
  const rows = (who: string, grants: Grant[]) =>
    rulesOf(grants).map((r) => {
      const rule = r as {
        apiGroups: string[];
        resources: string[];
        verbs: string[];
        resourceNames?: string[];
      };
      const names = rule.resourceNames ? ` (only ${rule.resourceNames.join(', ')})` : '';
      return [
        who,
        rule.apiGroups[0] || 'core',
        `${rule.resources.join(', ')}${names}`,
        rule.verbs.join(', '),
      ];
    });
  const body = [
    ...FUNCTION_NAMES.flatMap((fn) => rows(knativeServiceName(fn), FUNCTION_PERMISSIONS[fn])),
    ...rows(`${EXPORTER_SERVICE_ACCOUNT} (import ns)`, EXPORTER_PERMISSIONS),
    ...rows(`${EXPORTER_SERVICE_ACCOUNT} (source ns)`, EXPORTER_SOURCE_PERMISSIONS),
  ];
  const header = ['service account', 'API group', 'resources', 'verbs'];
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}
