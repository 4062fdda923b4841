// An in-memory Knative Broker: events published to it (by sources, by the HTTP ingress, or as
// replies of subscribers) are fanned out to every Trigger whose filter matches, each delivery
// independently (no serialisation across events or triggers), in binary content mode, with
// the trigger's (or else the broker's) delivery spec: retries with backoff, then the dead
// letter sink with the knativeerrordest / knativeerrorcode / knativeerrordata extensions. A 2xx
// answer must be empty or a CloudEvent (a reply, re-ingested); anything else fails the delivery
// with 502, as Knative's broker filter does (see `filterVerdict`).
import axios from 'axios';
import type http from 'node:http';
import type https from 'node:https';
import { CloudEvent, HTTP, type CloudEventV1 } from 'cloudevents';
import {
  backoffMs,
  isRetryableStatus,
  isSuccessStatus,
  parseIsoDuration,
  type DeliverySpec,
} from './delivery-spec.ts';
import { FaultInjector, type FaultPlan } from './faults.ts';
import { triggerMatches, UnsupportedFilterError, type TriggerFilterSpec } from './trigger-filter.ts';

export interface Destination {
  ref?: { apiVersion?: string; kind?: string; name: string; namespace?: string };
  uri?: string;
}

export interface TriggerConfig {
  namespace: string;
  name: string;
  filter: TriggerFilterSpec;
  subscriber: Destination;
  delivery?: DeliverySpec;
}

export interface DeliveryRecord {
  trigger: string;
  eventId: string;
  eventType: string;
  attempt: number;
  status?: number;
  error?: string;
  outcome: 'delivered' | 'retrying' | 'dead-lettered' | 'dropped' | 'failed';
}

export interface BrokerOptions {
  namespace: string;
  name: string;
  delivery?: DeliverySpec;
  /** Turns a Destination into a URL (cluster DNS names are fine). */
  resolve(dest: Destination, namespace: string): Promise<string>;
  faults?: FaultInjector;
  onDelivery?(record: DeliveryRecord): void;
  /** HTTP agents that resolve cluster names (network/cluster-lookup.ts). */
  agents?: { httpAgent: http.Agent; httpsAgent: https.Agent };
}

const ERROR_DATA_LIMIT = 1024;
const DEFAULT_TIMEOUT_MS = 30_000;

export type AnyCloudEvent = CloudEvent<unknown>;

export class Broker {
  private triggers: TriggerConfig[] = [];
  private readonly inflight = new Set<Promise<void>>();
  private readonly faults: FaultInjector;
  private closed = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly opts: BrokerOptions) {
    this.faults = opts.faults ?? new FaultInjector();
  }

  get namespace(): string {
    return this.opts.namespace;
  }
  get name(): string {
    return this.opts.name;
  }

  setDelivery(delivery: DeliverySpec | undefined): void {
    this.opts.delivery = delivery;
  }

  setTriggers(triggers: TriggerConfig[]): void {
    this.triggers = triggers;
  }

  /** Broker ingress: stamps knativearrivaltime and fans out; resolves once dispatch is scheduled. */
  publish(event: AnyCloudEvent): void {
    if (this.closed) return;
    const stamped = event.cloneWith({ knativearrivaltime: new Date().toISOString() }, false);
    for (const trigger of this.triggers) {
      let match = false;
      try {
        match = triggerMatches(trigger.filter, stamped as unknown as Record<string, unknown>);
      } catch (err) {
        if (!(err instanceof UnsupportedFilterError)) throw err;
        this.record(trigger, stamped, 0, { outcome: 'failed', error: err.message });
      }
      if (!match) continue;
      const plan = this.faults.plan();
      for (let copy = 0; copy < plan.copies; copy++) this.track(this.dispatch(trigger, stamped, plan));
    }
  }

  private track(p: Promise<void>): void {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, ms);
      this.timers.add(t);
    });
  }

  private record(
    trigger: TriggerConfig,
    event: AnyCloudEvent,
    attempt: number,
    r: Partial<DeliveryRecord>,
  ): void {
    this.opts.onDelivery?.({
      trigger: `${trigger.namespace}/${trigger.name}`,
      eventId: event.id,
      eventType: event.type,
      attempt,
      outcome: 'failed',
      ...r,
    });
  }

  private async dispatch(trigger: TriggerConfig, event: AnyCloudEvent, plan: FaultPlan): Promise<void> {
    await this.sleep(plan.holdMs);
    const delivery = trigger.delivery ?? this.opts.delivery ?? {};
    let url: string;
    try {
      url = await this.opts.resolve(trigger.subscriber, trigger.namespace);
    } catch (err) {
      this.record(trigger, event, 0, {
        outcome: 'failed',
        error: `subscriber not resolvable: ${String(err)}`,
      });
      return;
    }
    const maxAttempts = 1 + Math.max(0, delivery.retry ?? 0);
    const timeoutMs = delivery.timeout ? parseIsoDuration(delivery.timeout) : DEFAULT_TIMEOUT_MS;
    let last: { status?: number; body?: Buffer; error?: string; reply?: AnyCloudEvent } = {};
    for (let attempt = 1; attempt <= maxAttempts && !this.closed; attempt++) {
      if (attempt > 1) await this.sleep(backoffMs(delivery, attempt - 1));
      await this.sleep(plan.delayMs);
      if (this.closed) return;
      if (attempt <= plan.failFirstAttempts) {
        last = {
          status: 503,
          body: Buffer.from('fault injection: attempt failed'),
          error: 'injected failure',
        };
      } else {
        const answer = await this.send(url, event, timeoutMs);
        last =
          answer.status === undefined ? answer : filterVerdict(answer.status, answer.headers, answer.body);
      }
      if (last.status !== undefined && isSuccessStatus(last.status)) {
        this.record(trigger, event, attempt, { outcome: 'delivered', status: last.status });
        if (last.reply) this.publish(last.reply);
        return;
      }
      const retryable = isRetryableStatus(last.status);
      this.record(trigger, event, attempt, {
        outcome: retryable && attempt < maxAttempts ? 'retrying' : 'failed',
        status: last.status,
        error: last.error,
      });
      if (!retryable) break;
    }
    if (this.closed) return;
    if (plan.dropAfterRetries) {
      this.record(trigger, event, maxAttempts, { outcome: 'dropped', status: last.status });
      return;
    }
    if (!delivery.deadLetterSink) return;
    let dlsUrl: string;
    try {
      dlsUrl = await this.opts.resolve(delivery.deadLetterSink, trigger.namespace);
    } catch (err) {
      this.record(trigger, event, 0, {
        outcome: 'failed',
        error: `dead letter sink not resolvable: ${String(err)}`,
      });
      return;
    }
    const ext: Record<string, string> = { knativeerrordest: url };
    if (last.status !== undefined) ext.knativeerrorcode = String(last.status);
    if (last.body && last.body.length > 0) {
      ext.knativeerrordata = last.body.subarray(0, ERROR_DATA_LIMIT).toString('base64');
    }
    const dead = event.cloneWith(ext, false);
    for (let attempt = 1; attempt <= maxAttempts && !this.closed; attempt++) {
      if (attempt > 1) await this.sleep(backoffMs(delivery, attempt - 1));
      const r = await this.send(dlsUrl, dead, timeoutMs);
      if (r.status !== undefined && isSuccessStatus(r.status)) {
        this.record(trigger, event, attempt, { outcome: 'dead-lettered', status: last.status });
        return;
      }
      if (!isRetryableStatus(r.status)) break;
    }
    this.record(trigger, event, maxAttempts, {
      outcome: 'failed',
      error: 'dead letter sink did not accept the event',
    });
  }

  /**
   * One HTTP delivery in binary mode. The dead letter sink's answer counts by its status alone
   * (Knative's dispatcher sends to it directly); a subscriber's goes through `filterVerdict`.
   */
  private async send(
    url: string,
    event: AnyCloudEvent,
    timeoutMs: number,
  ): Promise<
    { status: number; headers: Record<string, string>; body: Buffer } | { status?: undefined; error: string }
  > {
    const message = HTTP.binary(event);
    try {
      const res = await axios.post<ArrayBuffer>(url, message.body, {
        headers: message.headers as Record<string, string>,
        responseType: 'arraybuffer',
        timeout: timeoutMs,
        validateStatus: () => true,
        transformRequest: [(d: unknown) => d],
        maxRedirects: 0,
        ...this.opts.agents,
      });
      const headers = Object.fromEntries(
        Object.entries(res.headers).map(([k, v]) => [k.toLowerCase(), String(v)]),
      );
      return { status: res.status, headers, body: Buffer.from(res.data) };
    } catch (err) {
      return { error: err instanceof Error ? err.message : String(err) };
    }
  }

  /** Waits for in-flight deliveries (tests, shutdown). */
  async drain(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

const CE_SPEC_VERSIONS = new Set(['1.0', '0.3']);
const CE_STRUCTURED_JSON = 'application/cloudevents+json';

/**
 * What Knative's broker filter makes of a subscriber's answer (knative.dev/eventing
 * pkg/broker/filter/filter_handler.go, Handler.send and Handler.writeResponse): a non-2xx status
 * stands, with its body (the delivery spec decides whether to retry). A 2xx answer that is neither
 * binary (a known ce-specversion header) nor structured (content type application/cloudevents+json;
 * cloudevents/sdk-go v2/protocol/http/message.go ReadEncoding) must have an empty body; a
 * non-empty one, like a CloudEvent that does not parse, becomes a 502 with no body, which the
 * broker retries and then dead-letters.
 */
export function filterVerdict(
  status: number,
  headers: Record<string, string>,
  body: Buffer,
): { status: number; body: Buffer; error?: string; reply?: AnyCloudEvent } {
  if (!isSuccessStatus(status)) return { status, body };
  const structured = (headers['content-type'] ?? '').split(';')[0] === CE_STRUCTURED_JSON;
  const binary = !structured && CE_SPEC_VERSIONS.has(headers['ce-specversion'] ?? '');
  if (!structured && !binary) {
    if (body.length === 0) return { status, body };
    return {
      status: 502,
      body: Buffer.alloc(0),
      error:
        'received a non-empty response not recognized as CloudEvent. The response MUST be either empty or a valid CloudEvent',
    };
  }
  try {
    // The SDK parses a structured event only from text (a Buffer body is taken for the event itself).
    const reply = HTTP.toEvent({ headers, body: structured ? body.toString('utf8') : body });
    if (Array.isArray(reply)) throw new Error('a batch is not a reply event');
    return { status, body, reply: reply as AnyCloudEvent };
  } catch (err) {
    return { status: 502, body: Buffer.alloc(0), error: `malformed reply event: ${String(err)}` };
  }
}

export function eventFromJson(e: CloudEventV1<unknown>): AnyCloudEvent {
  return new CloudEvent(e, false);
}
