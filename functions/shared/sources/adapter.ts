// The one interface every source kind implements (sources/<kind>/adapter.ts), and what the
// functions and the export Job hand it. An adapter talks to its source only: it never reads the
// Kubernetes API (source-target.ts does that for it) and never logs or returns a secret.
// Operations throw a SourceError with a reason and a message a user can act on.
import type { SourceKind, VirtualMachineImport } from '../api/index.ts';
import type { ConditionInput } from '../condition-list.ts';
import type { Obj } from '../kube/client.ts';
import type { Logger } from '../log.ts';
import type { PowerConditions } from './power-conditions.ts';
import type { ScratchSize, ScratchSizing } from './scratch-size.ts';
import type { ExportedDisk, ExportOptions, SourceVm } from './types.ts';

/** Decoded values of the source's credentials Secret. */
export interface Credentials {
  /** `<namespace>/<name>` of the Secret, for messages. */
  name: string;
  data: Record<string, string>;
}

/** A source object (`*Source`) with its credentials, as verify needs it. */
export interface SourceObject {
  kind: SourceKind;
  source: Obj;
  credentials?: Credentials;
}

/** A source object and the import that reads from it. */
export interface SourceTarget extends SourceObject {
  vmImport: VirtualMachineImport;
}

/** A runtime setting an adapter reads (ConfigMap key → env of the functions and the export Job). */
export interface SourceSetting {
  default: string;
  /** One line for the generated ConfigMap's readers. */
  description: string;
}

export interface PowerOffDeps {
  /** Power conditions already True (from an earlier run of the Job). */
  conditions: PowerConditions;
  record(condition: ConditionInput): Promise<void>;
  log: Logger;
  signal: AbortSignal;
  /** Where the adapter reads its own settings (process.env in production). */
  env: Readonly<Record<string, string | undefined>>;
}

export interface PowerOnDeps {
  log: Logger;
  signal?: AbortSignal;
}

/**
 * `on`: the VM runs (it did already, or the request took effect at once); `requested`: the
 * source accepted the request and starts it asynchronously (ask again to learn the outcome);
 * `notApplicable`: the source has no VM to power (an OVA file).
 */
export type PowerOnResult = { state: 'on' | 'requested' | 'notApplicable'; message: string };

export interface SourceExport {
  disks: ExportedDisk[];
  /** The VM description when only the export can read it (OVA: the OVF inside the archive). */
  vm?: SourceVm;
  /** Things the user should know that do not stop the import. */
  warnings: string[];
}

export interface SourceAdapter {
  /** How messages name this kind of source ("OVA", "vSphere", "OpenStack"). */
  readonly label: string;
  /** Whether the source runs the VM (and powerOff/powerOn act on it); false for a file. */
  readonly hasPower: boolean;
  /** Runtime settings this source reads, with their defaults (they join the ConfigMap). */
  readonly settings: Readonly<Record<string, SourceSetting>>;
  /** Endpoint and credentials work. */
  verify(source: SourceObject): Promise<void>;
  /** The import can work with this source (VM exists, networks exist, …); warnings do not stop it. */
  preflight(target: SourceTarget): Promise<{ warnings: string[] }>;
  /** The VM's name at the source (an OpenStack server UUID resolves to its name). */
  resolveVmName(target: SourceTarget): Promise<string>;
  /** The VM as the source describes it; undefined when only the export can tell (OVA). */
  describe(target: SourceTarget): Promise<SourceVm | undefined>;
  /** Size of the scratch volume the export writes the disks to (asks the source). */
  scratchSize(target: SourceTarget, sizing: ScratchSizing): Promise<ScratchSize>;
  /**
   * Powers the VM off before the export, recording VMShutdownGuest / VMPoweringOff / VMPoweredOff
   * through `deps.record`; waits (bounded by the adapter's own timeout setting) until it is off.
   */
  powerOff(target: SourceTarget, deps: PowerOffDeps): Promise<void>;
  /** Asks the source to power the VM on; idempotent, does not wait for the guest to boot. */
  powerOn(target: SourceTarget, deps: PowerOnDeps): Promise<PowerOnResult>;
  /** Writes every disk into `opts.scratchDir` as a sparse raw image. The VM must be off. */
  exportDisks(target: SourceTarget, opts: ExportOptions, log: Logger): Promise<SourceExport>;
  /** Releases what the adapter keeps between calls (sessions); the process is about to exit. */
  close(): Promise<void>;
}
