// Which events reach which function. config/eventing (ApiServerSource resources, one Trigger per
// route) is generated from this table, and the local cluster delivers by the same Triggers.
// Triggers can only filter on attributes, so a phase function receives every add/update of its
// kind and ignores the ones that are not in its phase (design contract).
import { LABEL_IMPORT_NAME } from '../functions/shared/labels.ts';
import { ApiServerSourceEventType as T } from './apiserver-source.ts';
import { PING_EVENT_TYPE } from './ping.ts';
import { ImportStatus as P, SOURCE_KINDS } from '../functions/shared/api/index.ts';

type ImportStatus = (typeof P)[keyof typeof P];

export const NAMESPACE = 'vm-import-system';
export const BROKER = 'vm-import';
export const APISERVER_SOURCE = 'vm-import-resources';
export const PING_SOURCE = 'vm-import-resync';

export interface WatchedResource {
  apiVersion: string;
  kind: string;
  /** Only objects with these labels emit events (keeps Harvester's other Jobs/images/VMs out). */
  labelSelectorExists?: string;
}

/** What the ApiServerSource watches. */
export const WATCHED_RESOURCES: WatchedResource[] = [
  ...SOURCE_KINDS.map((kind) => ({ apiVersion: 'migration.harvesterhci.io/v1beta1', kind })),
  { apiVersion: 'migration.harvesterhci.io/v1beta1', kind: 'VirtualMachineImport' },
  { apiVersion: 'batch/v1', kind: 'Job', labelSelectorExists: LABEL_IMPORT_NAME },
  { apiVersion: 'apps/v1', kind: 'Deployment', labelSelectorExists: LABEL_IMPORT_NAME },
  {
    apiVersion: 'harvesterhci.io/v1beta1',
    kind: 'VirtualMachineImage',
    labelSelectorExists: LABEL_IMPORT_NAME,
  },
  { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', labelSelectorExists: LABEL_IMPORT_NAME },
];

export interface Route {
  /** CloudEvent types that reach the function. */
  types: string[];
  /** ApiServerSource `kind` + `apiversion` extensions; absent for the resync ping. */
  kind?: string;
  apiVersion?: string;
}

const IMPORT_ROUTE: Route = {
  types: [T.Add, T.Update],
  kind: 'VirtualMachineImport',
  apiVersion: 'migration.harvesterhci.io/v1beta1',
};
const sourceRoute = (kind: string): Route => ({
  types: [T.Add, T.Update],
  kind,
  apiVersion: 'migration.harvesterhci.io/v1beta1',
});

/**
 * The import phases (status.importStatus) a phase function owns: it runs only for an import in
 * one of `from` (and not being deleted), and may move it only to one of `to` or leave it where it
 * is. The cleanup function runs only while the import is being deleted, in any phase.
 */
export type PhaseMove =
  { from: readonly ImportStatus[]; to: readonly ImportStatus[] } | { whileDeleting: true };

export interface FunctionRoutes {
  /** What the function does, one line (also the Knative Service description). */
  purpose: string;
  routes: Route[];
  /** For functions that act on imports: the phases they move between (see PhaseMove). */
  phases?: PhaseMove;
}

/** Function name (folder under functions/, Knative Service `vm-import-<name>`) → its routes. */
export const ROUTING = {
  'verify-source': {
    purpose: `Verifies a ${SOURCE_KINDS.join(', ').replace(/, (?=[^,]*$)/, ' or ')} and writes clusterReady/clusterNotReady.`,
    routes: SOURCE_KINDS.map(sourceRoute),
  },
  preflight: {
    purpose: 'New import → virtualMachineImportValid or virtualMachineImportInvalid.',
    routes: [IMPORT_ROUTE],
    phases: { from: [P.New], to: [P.Valid, P.Invalid] },
  },
  sanitize: {
    purpose: 'virtualMachineImportValid → sourceReady: picks the KubeVirt VM name.',
    routes: [IMPORT_ROUTE],
    phases: { from: [P.Valid], to: [P.SourceReady, P.Invalid] },
  },
  export: {
    purpose:
      'sourceReady: creates the scratch volume and the export Job; a finished export Job wakes the imports queued behind it.',
    routes: [IMPORT_ROUTE, { types: [T.Add, T.Update, T.Delete], kind: 'Job', apiVersion: 'batch/v1' }],
    // Stays in sourceReady: the Job reports, export-status moves the import on.
    phases: { from: [P.SourceReady], to: [] },
  },
  'export-status': {
    purpose: 'sourceReady → disksExported or VMMigrationFailed from the export Job.',
    routes: [IMPORT_ROUTE, { types: [T.Add, T.Update, T.Delete], kind: 'Job', apiVersion: 'batch/v1' }],
    phases: { from: [P.SourceReady], to: [P.DisksExported, P.Failed] },
  },
  images: {
    purpose:
      'disksExported → diskImageSubmitted: disk server and, once it serves, one VirtualMachineImage per disk (VMMigrationFailed when Harvester refuses one).',
    routes: [IMPORT_ROUTE, { types: [T.Add, T.Update], kind: 'Deployment', apiVersion: 'apps/v1' }],
    phases: { from: [P.DisksExported], to: [P.DiskImagesSubmitted, P.Invalid, P.Failed] },
  },
  'image-status': {
    purpose:
      'diskImageSubmitted → diskImagesReady or diskImageFailed (bounded resubmit, then VMMigrationFailed).',
    routes: [
      IMPORT_ROUTE,
      {
        types: [T.Add, T.Update, T.Delete],
        kind: 'VirtualMachineImage',
        apiVersion: 'harvesterhci.io/v1beta1',
      },
    ],
    phases: {
      from: [P.DiskImagesSubmitted, P.DiskImagesFailed],
      to: [P.DiskImagesReady, P.DiskImagesFailed, P.DiskImagesSubmitted, P.Failed],
    },
  },
  vm: {
    purpose: 'diskImagesReady → virtualMachineCreated: volumes and the KubeVirt VirtualMachine.',
    routes: [IMPORT_ROUTE],
    phases: { from: [P.DiskImagesReady], to: [P.VirtualMachineCreated, P.Failed] },
  },
  'vm-status': {
    purpose: 'virtualMachineCreated → virtualMachineRunning, then frees scratch and the disk server.',
    routes: [
      IMPORT_ROUTE,
      { types: [T.Add, T.Update], kind: 'VirtualMachine', apiVersion: 'kubevirt.io/v1' },
    ],
    phases: { from: [P.VirtualMachineCreated], to: [P.VirtualMachineRunning, P.Failed] },
  },
  cleanup: {
    purpose:
      'Import being deleted: removes what an unfinished import created, powers the source back on once the export Job is gone, then its finalizer.',
    // One deletion stage per invocation (VM, volumes, images): each deletion event brings the next.
    routes: [
      IMPORT_ROUTE,
      { types: [T.Delete], kind: 'Job', apiVersion: 'batch/v1' },
      { types: [T.Delete], kind: 'VirtualMachine', apiVersion: 'kubevirt.io/v1' },
      { types: [T.Delete], kind: 'VirtualMachineImage', apiVersion: 'harvesterhci.io/v1beta1' },
    ],
    phases: { whileDeleting: true },
  },
  resync: {
    purpose: 'On every PingSource tick, touches every non-terminal import and source.',
    routes: [{ types: [PING_EVENT_TYPE] }],
  },
  'dead-letter': {
    purpose: 'Receives events the broker gave up on: logs them and records a Kubernetes Event on the object.',
    routes: [],
  },
} as const satisfies Record<string, FunctionRoutes>;

export type FunctionName = keyof typeof ROUTING;
export const FUNCTION_NAMES = Object.keys(ROUTING) as FunctionName[];

export const knativeServiceName = (fn: FunctionName): string => `vm-import-${fn}`;

/** Does an event with these attributes reach the route? (The same test a Trigger makes.) */
export function routeMatches(route: Route, attributes: Record<string, unknown>): boolean {
  if (!route.types.includes(String(attributes.type))) return false;
  if (route.kind !== undefined && attributes.kind !== route.kind) return false;
  if (route.apiVersion !== undefined && attributes.apiversion !== route.apiVersion) return false;
  return true;
}

/** Whether a function owning `move` runs for an import in `phase` (being deleted or not). */
export function phaseGuardPasses(move: PhaseMove, phase: string, deleting: boolean): boolean {
  if ('whileDeleting' in move) return deleting;
  return !deleting && (move.from as readonly string[]).includes(phase);
}

/** Whether a step of a function owning `move` may write `to` for an import in `from`. */
export function phaseMoveAllowed(move: PhaseMove, from: string, to: string): boolean {
  if ('whileDeleting' in move || from === to) return true;
  return (move.to as readonly string[]).includes(to);
}

/** Names of the functions an event reaches. */
export function functionsFor(attributes: Record<string, unknown>): FunctionName[] {
  return FUNCTION_NAMES.filter((fn) => ROUTING[fn].routes.some((r: Route) => routeMatches(r, attributes)));
}
