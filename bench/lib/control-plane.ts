// Control-plane latency on the local cluster. Placeholder filled in below.
import type { ControlPlane } from './report.ts';

export async function measureControlPlane(_dir: string): Promise<{ result: ControlPlane; notes: string[] }> {
  return {
    result: {
      transitionP50Ms: null,
      transitionP99Ms: null,
      oneImportSeconds: null,
      twentyImportsSeconds: null,
    },
    notes: ['control plane: not measured yet'],
  };
}
