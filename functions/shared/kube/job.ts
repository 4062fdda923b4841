// What a Kubernetes Job's status says about how it ended.
import type { Obj } from './client.ts';

/** A Job's Complete/Failed condition, if it has finished. */
export function jobFinished(
  job: Obj,
): { type: 'Complete' | 'Failed'; reason: string; message: string } | undefined {
  const conditions = ((job.status as { conditions?: unknown[] } | undefined)?.conditions ?? []) as Array<{
    type?: string;
    status?: string;
    reason?: string;
    message?: string;
  }>;
  for (const c of conditions)
    if ((c.type === 'Complete' || c.type === 'Failed') && c.status === 'True')
      return { type: c.type, reason: c.reason ?? '', message: c.message ?? '' };
  return undefined;
}
