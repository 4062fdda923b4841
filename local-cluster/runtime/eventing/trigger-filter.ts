// Knative Trigger filtering. `spec.filters` (the subscriptions API dialects exact / prefix /
// suffix / all / any / not; several entries are ANDed) takes precedence over the legacy
// `spec.filter.attributes` (exact match on every listed attribute, "" matching any value).
// CESQL is not supported: a trigger using it matches nothing and reports why.

export type EventAttributes = Record<string, unknown>;

export interface SubscriptionsApiFilter {
  exact?: Record<string, string>;
  prefix?: Record<string, string>;
  suffix?: Record<string, string>;
  all?: SubscriptionsApiFilter[];
  any?: SubscriptionsApiFilter[];
  not?: SubscriptionsApiFilter;
  cesql?: string;
}

export interface TriggerFilterSpec {
  filter?: { attributes?: Record<string, string> };
  filters?: SubscriptionsApiFilter[];
}

export class UnsupportedFilterError extends Error {}

function attr(event: EventAttributes, name: string): string | undefined {
  const v = event[name];
  if (v === undefined || v === null) return undefined;
  if (v instanceof Date) return v.toISOString();
  return typeof v === 'string' ? v : String(v);
}

function matchEach(
  pairs: Record<string, string>,
  event: EventAttributes,
  test: (actual: string, expected: string) => boolean,
): boolean {
  return Object.entries(pairs).every(([name, expected]) => {
    const actual = attr(event, name);
    return actual !== undefined && test(actual, expected);
  });
}

/** One subscriptions-API filter expression; a single expression must use exactly one dialect. */
export function matchesDialect(f: SubscriptionsApiFilter, event: EventAttributes): boolean {
  const used = (Object.keys(f) as (keyof SubscriptionsApiFilter)[]).filter((k) => f[k] !== undefined);
  if (used.length !== 1) {
    throw new UnsupportedFilterError(`a filter must use exactly one dialect, got [${used.join(', ')}]`);
  }
  switch (used[0]) {
    case 'exact':
      return matchEach(f.exact!, event, (a, e) => a === e);
    case 'prefix':
      return matchEach(f.prefix!, event, (a, e) => a.startsWith(e));
    case 'suffix':
      return matchEach(f.suffix!, event, (a, e) => a.endsWith(e));
    case 'all':
      return f.all!.every((g) => matchesDialect(g, event));
    case 'any':
      return f.any!.some((g) => matchesDialect(g, event));
    case 'not':
      return !matchesDialect(f.not!, event);
    case 'cesql':
      throw new UnsupportedFilterError('the CESQL filter dialect is not supported by the local broker');
    default:
      throw new UnsupportedFilterError(`unknown filter dialect ${String(used[0])}`);
  }
}

export function matchesLegacyAttributes(attributes: Record<string, string>, event: EventAttributes): boolean {
  return Object.entries(attributes).every(([name, expected]) => {
    if (expected === '') return true;
    return attr(event, name) === expected;
  });
}

export function triggerMatches(spec: TriggerFilterSpec, event: EventAttributes): boolean {
  if (spec.filters && spec.filters.length > 0) {
    return spec.filters.every((f) => matchesDialect(f, event));
  }
  return matchesLegacyAttributes(spec.filter?.attributes ?? {}, event);
}
