// Counts the deliveries Knative's broker filter made, from its own Prometheus metrics (the local
// cluster sets metrics-protocol: prometheus, eventing-install.ts): every HTTP attempt the filter's
// dispatcher makes is one sample of the otelhttp client histogram http_client_request_duration_seconds
// (knative.dev/eventing pkg/kncloudevents/event_dispatcher.go, go-retryablehttp over an otelhttp
// transport), labelled with the trigger (messaging_destination_name "trigger:<name>.<namespace>"),
// the host it went to (server_address: the subscriber, or the dead letter sink after the retries)
// and the answer (http_response_status_code; absent when no answer came). The page is read with the
// Prometheus project's prom2json (local-cluster/components/prom2json).
import { execa } from 'execa';
import { z } from 'zod';
import { componentBinary } from '../../control-plane/components.ts';
import type { Kube } from '../../../functions/shared/kube/client.ts';
import { KNATIVE_NAMESPACE } from './eventing-install.ts';

const FILTER_METRICS_PORT = 9092;
const ATTEMPTS_METRIC = 'http_client_request_duration_seconds';

const MetricFamilies = z.array(
  z.object({
    name: z.string(),
    metrics: z.array(
      z.object({ labels: z.record(z.string(), z.string()).optional(), count: z.string().optional() }),
    ),
  }),
);

export interface DeliveryAttempts {
  /** The trigger, "<namespace>/<name>". */
  trigger: string;
  /** The host the attempts went to: the subscriber's, or the dead letter sink's. */
  destination: string;
  /** The HTTP status answered, or "none" when the request got no answer. */
  status: string;
  count: number;
}

/** Attempts per trigger, destination and answer, from one filter's metrics as prom2json writes them. */
export function deliveryAttempts(prom2jsonOutput: unknown): DeliveryAttempts[] {
  const families = MetricFamilies.parse(prom2jsonOutput);
  const attempts = families.find((f) => f.name === ATTEMPTS_METRIC)?.metrics ?? [];
  return attempts.flatMap((m) => {
    const destination = /^trigger:(.+)\.([^.]+)$/.exec(m.labels?.messaging_destination_name ?? '');
    if (!destination) return [];
    return [
      {
        trigger: `${destination[2]}/${destination[1]}`,
        destination: m.labels?.server_address ?? '',
        status: m.labels?.http_response_status_code ?? 'none',
        count: Number(m.count ?? 0),
      },
    ];
  });
}

/** Every broker filter pod's attempts, summed. */
export async function brokerDeliveryAttempts(kube: Kube): Promise<DeliveryAttempts[]> {
  const { items } = await kube.listVersioned(
    'v1',
    'Pod',
    KNATIVE_NAMESPACE,
    'eventing.knative.dev/brokerRole=filter',
  );
  const pages = await Promise.all(
    items
      .map((p) => (p.status as { podIP?: string } | undefined)?.podIP)
      .filter((ip): ip is string => Boolean(ip))
      .map(async (ip) => {
        const { stdout } = await execa(await componentBinary('prom2json', 'prom2json'), [
          `http://${ip}:${FILTER_METRICS_PORT}/metrics`,
        ]);
        return JSON.parse(stdout) as unknown;
      }),
  );
  const sums = new Map<string, DeliveryAttempts>();
  for (const a of pages.flatMap(deliveryAttempts)) {
    const key = `${a.trigger}\t${a.destination}\t${a.status}`;
    const seen = sums.get(key);
    if (seen) seen.count += a.count;
    else sums.set(key, { ...a });
  }
  return [...sums.values()];
}
