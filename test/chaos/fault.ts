// The contract between the chaos runner (run.ts, scenario.ts) and the faults (faults/*.ts): a fault
// is injected into one import at one moment, says how it can prove it hit where intended, and says
// how the import must end.
import type { VirtualMachineImportStatus } from '../../functions/shared/api/index.ts';
import type { LocalCluster } from '../../local-cluster/cluster.ts';
import type { ImportObservation } from './moments.ts';
import type { SourceLink } from './source-link.ts';

/** The kinds of fault of issue 25's table; `npm test` runs one row of each. */
export const FAULT_KINDS = [
  'function-killed',
  'export-job-killed',
  'disk-server-killed',
  'api-server-restarted',
  'etcd-restarted',
  'broker-killed',
  'source-unreachable',
  'source-session-expired',
  'scratch-full',
  'import-deleted',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export const CHAOS_SOURCES = ['vmware', 'openstack', 'ova'] as const;
export type ChaosSource = (typeof CHAOS_SOURCES)[number];

/**
 * When the fault is injected (moments.ts decides from the import's status and objects):
 * - `before-transfer`: the export Job runs, no disk byte moved yet;
 * - `mid-transfer`: the disks' bytes done between 10 % and 90 %;
 * - `near-end`: more than 90 % done, not yet exported;
 * - `image-download`: every disk exported, Harvester downloading the images;
 * - `vm-creation`: the images ready, the VirtualMachine being created;
 * - an import phase (`importStatus` value) for faults that act on phases (the import deleted).
 */
export type Moment =
  | 'before-transfer'
  | 'mid-transfer'
  | 'near-end'
  | 'image-download'
  | 'vm-creation'
  | { phase: NonNullable<VirtualMachineImportStatus['importStatus']> };

/** How the import must end after the fault. */
export type ExpectedEnd =
  /** virtualMachineRunning, every disk byte-identical to its source. */
  | { end: 'running' }
  /** A terminal state whose last condition's message matches (what happened and what to do). */
  | { end: 'failed'; message: RegExp }
  /** The import is gone (the fault deleted it): cleanup must leave nothing. */
  | { end: 'deleted' };

/** The import a fault acts on. */
export interface ChaosTarget {
  namespace: string;
  /** The VirtualMachineImport's name. */
  name: string;
  source: ChaosSource;
  /** The source VM's name, as the import names it. */
  vmName: string;
}

export interface ChaosContext {
  cluster: LocalCluster;
  /** The network path to each simulated source: shape it, cut it. */
  sourceLink: SourceLink;
  log(message: string): void;
}

export interface Injection {
  /**
   * What proves the fault hit where intended, for the table: e.g. "pid 4242 (export-x-7f2c)
   * SIGKILLed at 37 % of the disks' bytes".
   */
  proof: string;
  /** Whether the proof shows the fault hit the intended moment; a false row fails. */
  hit: boolean;
  /** Undoes the fault when it lasts (a dropped port brought back); awaited before the outcome. */
  heal?: () => Promise<void>;
}

export interface Fault {
  /** Unique row name, e.g. "export Job pod SIGKILL, vmware, mid-transfer". */
  name: string;
  kind: FaultKind;
  source: ChaosSource;
  moment: Moment;
  expected: ExpectedEnd;
  /**
   * Prepares what `inject` needs, before the import is created (finding the process to kill), so
   * that the fault lands within milliseconds of the moment instead of after a search.
   */
  arm?(ctx: ChaosContext, target: ChaosTarget): Promise<void>;
  /** Injects the fault into `target`, which has just reached `moment` (observed as `at`). */
  inject(ctx: ChaosContext, target: ChaosTarget, at: ImportObservation): Promise<Injection>;
}

export const momentName = (m: Moment): string => (typeof m === 'string' ? m : `phase ${m.phase}`);
