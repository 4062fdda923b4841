// Our own event: the resync tick. A Knative PingSource sends it on a schedule; the resync function
// touches every non-terminal import and source so that lost events never leave anything stuck.
import { z } from 'zod';

/** Fixed by Knative for every PingSource (sources.knative.dev/v1). */
export const PING_EVENT_TYPE = 'dev.knative.sources.ping';

export const ResyncPingData = z.object({
  reason: z.literal('resync'),
});
export type ResyncPingData = z.infer<typeof ResyncPingData>;

export const RESYNC_PING_DATA: ResyncPingData = { reason: 'resync' };
