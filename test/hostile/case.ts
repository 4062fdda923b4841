// One hostile input: what it is, the condition reason it must end in ('accepted' when the right
// answer is to import it, contained), how to set it up and how to run it.
import type { Sandbox } from './harness.ts';

export type HostileKind = 'vmdk' | 'ovf' | 'ova' | 'qcow2' | 'openstack-json' | 'soap';

export interface HostileCase {
  kind: HostileKind;
  name: string;
  /** The SourceError / DiskFormatError reason expected, or 'accepted'. */
  expect: string;
  /** Fixtures (may write into sandbox.outside); not counted for memory or writes. */
  prepare?(s: Sandbox): Promise<void>;
  run(s: Sandbox): Promise<unknown>;
}
