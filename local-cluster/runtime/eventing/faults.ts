// Fault injection for the local broker, switchable per run: duplicate a share of deliveries,
// hold and shuffle events within a small window (reorder), delay deliveries, fail the first N
// attempts of every delivery (as if the subscriber answered 503), and drop an event for good
// after its retries (the dead letter sink is not called either, as when a broker pod dies).
// The decisions are pure functions of a seeded PRNG so runs are reproducible.

export interface FaultOptions {
  /** Share (0..1) of deliveries sent twice. */
  duplicate?: number;
  /** Hold events up to this many ms and release them in shuffled order. 0 = off. */
  reorderWindowMs?: number;
  /** Extra delay before each delivery attempt, ms. */
  delayMs?: number;
  /** The first N attempts of every delivery fail with 503 without reaching the subscriber. */
  failFirstAttempts?: number;
  /** Share (0..1) of deliveries dropped silently once their retries are exhausted. */
  dropAfterRetries?: number;
  /** PRNG seed. */
  seed?: number;
}

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FaultPlan {
  copies: number;
  holdMs: number;
  delayMs: number;
  failFirstAttempts: number;
  dropAfterRetries: boolean;
}

export class FaultInjector {
  private readonly random: () => number;
  constructor(readonly options: FaultOptions = {}) {
    this.random = mulberry32(options.seed ?? 1);
  }

  get enabled(): boolean {
    const o = this.options;
    return Boolean(
      o.duplicate || o.reorderWindowMs || o.delayMs || o.failFirstAttempts || o.dropAfterRetries,
    );
  }

  /** What happens to one event on its way to one trigger's subscriber. */
  plan(): FaultPlan {
    const o = this.options;
    return {
      copies: o.duplicate && this.random() < o.duplicate ? 2 : 1,
      holdMs: o.reorderWindowMs ? Math.floor(this.random() * o.reorderWindowMs) : 0,
      delayMs: o.delayMs ?? 0,
      failFirstAttempts: o.failFirstAttempts ?? 0,
      dropAfterRetries: Boolean(o.dropAfterRetries && this.random() < o.dropAfterRetries),
    };
  }
}

/** Reads fault options from VMI_FAULT_* environment variables (CLI and `npm start`). */
export function faultsFromEnv(env: NodeJS.ProcessEnv = process.env): FaultOptions {
  const num = (k: string): number | undefined => (env[k] === undefined ? undefined : Number(env[k]));
  const out: FaultOptions = {
    duplicate: num('VMI_FAULT_DUPLICATE'),
    reorderWindowMs: num('VMI_FAULT_REORDER_MS'),
    delayMs: num('VMI_FAULT_DELAY_MS'),
    failFirstAttempts: num('VMI_FAULT_FAIL_FIRST'),
    dropAfterRetries: num('VMI_FAULT_DROP'),
    seed: num('VMI_FAULT_SEED'),
  };
  for (const [k, v] of Object.entries(out)) {
    if (v === undefined) delete (out as Record<string, unknown>)[k];
    else if (!Number.isFinite(v) || v < 0) throw new Error(`fault option ${k} must be a non-negative number`);
  }
  return out;
}
