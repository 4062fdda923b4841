// Counts Knative's deliveries from its own Prometheus metrics (the local cluster sets
// metrics-protocol: prometheus, eventing-install.ts). Every HTTP request a component's dispatcher
// makes is one sample of the otelhttp client histogram http_client_request_duration_seconds
// (knative.dev/eventing pkg/kncloudevents/event_dispatcher.go: go-retryablehttp over an otelhttp
// transport), labelled with the host it went to (server_address) and the answer
// (http_response_status_code; absent when none came). In the MT channel-based broker the
// in-memory channel's dispatcher delivers each trigger's subscription to the broker filter, retries
// it with the trigger's delivery spec and, when those fail, sends the event to the dead letter sink
// itself; the filter makes one request to the subscriber per attempt, labelled with its trigger
// (messaging_destination_name "trigger:<name>.<namespace>"). The pages are read with the
// Prometheus project's prom2json (local-cluster/components/prom2json).
import { execa } from 'execa';
import { z } from 'zod';
import { componentBinary } from '../../control-plane/components.ts';
import type { Kube } from '../../../functions/shared/kube/client.ts';
import { KNATIVE_NAMESPACE } from './eventing-install.ts';

const FILTER = { selector: 'eventing.knative.dev/brokerRole=filter', port: 9092 };
const CHANNEL_DISPATCHER = { selector: 'messaging.knative.dev/role=dispatcher', port: 9090 };
const REQUESTS_METRIC = 'http_client_request_duration_seconds';
const BROKER_FILTER_HOST = `broker-filter.${KNATIVE_NAMESPACE}.svc.cluster.local`;

const MetricFamilies = z.array(
  z.object({
    name: z.string(),
    metrics: z.array(
      z.object({ labels: z.record(z.string(), z.string()).optional(), count: z.string().optional() }),
    ),
  }),
);

export interface DeadLetterDeliveries {
  /** The dead letter sink's host. */
  destination: string;
  status: string;
  count: number;
}

export interface DeliveryCounts {
  /** Per trigger: the broker filter's requests to its subscriber. */
  attempts: DeliveryAttempts[];
  /** The channel dispatcher's requests to a dead letter sink. */
  deadLettered: DeadLetterDeliveries[];
}

export interface DeliveryAttempts {
  /** The trigger, "<namespace>/<name>". */
  trigger: string;
  /** The host the attempts went to: the subscriber's, or the dead letter sink's. */
  destination: string;
  /** The HTTP status answered, or "none" when the request got no answer. */
  status: string;
  count: number;
}

type Sample = { labels?: Record<string, string>; count?: string };

function requestSamples(prom2jsonOutput: unknown): Sample[] {
  return MetricFamilies.parse(prom2jsonOutput).find((f) => f.name === REQUESTS_METRIC)?.metrics ?? [];
}

/** Attempts per trigger, destination and answer, from the broker filter's metrics (prom2json's JSON). */
export function deliveryAttempts(filterMetrics: unknown): DeliveryAttempts[] {
  return requestSamples(filterMetrics).flatMap((m) => {
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

/**
 * Requests to dead letter sinks, from the channel dispatcher's metrics: the CloudEvents it sent
 * (their requests carry cloudevents_* labels; its API server requests do not) to any host but the
 * broker filter.
 */
export function deadLetterDeliveries(dispatcherMetrics: unknown): DeadLetterDeliveries[] {
  return requestSamples(dispatcherMetrics)
    .filter(
      (m) =>
        m.labels?.cloudevents_type &&
        m.labels.server_address &&
        m.labels.server_address !== BROKER_FILTER_HOST,
    )
    .map((m) => ({
      destination: m.labels!.server_address!,
      status: m.labels?.http_response_status_code ?? 'none',
      count: Number(m.count ?? 0),
    }));
}

async function metricsOfPods(
  kube: Kube,
  { selector, port }: { selector: string; port: number },
): Promise<unknown[]> {
  const { items } = await kube.listVersioned('v1', 'Pod', KNATIVE_NAMESPACE, selector);
  const prom2json = await componentBinary('prom2json', 'prom2json');
  return Promise.all(
    items
      .map((p) => (p.status as { podIP?: string } | undefined)?.podIP)
      .filter((ip): ip is string => Boolean(ip))
      .map(
        async (ip) =>
          JSON.parse((await execa(prom2json, [`http://${ip}:${port}/metrics`])).stdout) as unknown,
      ),
  );
}

function sum<T extends { count: number }>(rows: T[], key: (r: T) => string): T[] {
  const sums = new Map<string, T>();
  for (const r of rows) {
    const seen = sums.get(key(r));
    if (seen) seen.count += r.count;
    else sums.set(key(r), { ...r });
  }
  return [...sums.values()];
}

/** What the broker's filter and channel dispatcher pods delivered since they started. */
export async function brokerDeliveries(kube: Kube): Promise<DeliveryCounts> {
  const [filters, dispatchers] = await Promise.all([
    metricsOfPods(kube, FILTER),
    metricsOfPods(kube, CHANNEL_DISPATCHER),
  ]);
  return {
    attempts: sum(filters.flatMap(deliveryAttempts), (a) => `${a.trigger}\t${a.destination}\t${a.status}`),
    deadLettered: sum(dispatchers.flatMap(deadLetterDeliveries), (d) => `${d.destination}\t${d.status}`),
  };
}
