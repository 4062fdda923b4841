// Every chaos row, in the order `npm run chaos` runs them; the first row of each kind is the one
// `npm test` runs (test/e2e/chaos.test.ts).
import type { Fault } from '../fault.ts';
import { controlPlaneFaults } from './control-plane.ts';
import { importDeletedFaults } from './import-deleted.ts';
import { dataPathKillFaults } from './data-path-kills.ts';
import { processKillFaults } from './process-kills.ts';
import { scratchFullFaults } from './scratch-full.ts';
import { sourceSessionExpiredFaults } from './source-session-expired.ts';
import { sourceUnreachableFaults } from './source-unreachable.ts';

export const ALL_FAULTS: Fault[] = [
  ...processKillFaults,
  ...dataPathKillFaults,
  ...controlPlaneFaults,
  ...sourceUnreachableFaults,
  ...sourceSessionExpiredFaults,
  ...scratchFullFaults,
  ...importDeletedFaults,
];
