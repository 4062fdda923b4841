// Fault injection between Knative's broker filter and a function (fault-proxy.ts), where a real
// cluster produces these faults (Knative Serving's activator and queue-proxy sit there, and pods
// die): a share of deliveries processed but answered 503, as when the reply is lost, so Knative
// redelivers and the function sees the event twice; requests held for a random time within a
// window, so concurrent deliveries arrive out of order; a fixed delay before each; the first N
// attempts of every event answered 503 without reaching the function (an overloaded or not yet
// ready revision); and a share acknowledged with 202 but never delivered (a pod killed after it
// answered), which Knative counts as delivered: only a resync finds them.
// The decisions are pure functions of a seeded PRNG so runs are reproducible.

export interface FaultOptions {
  /** Share (0..1) of events delivered, then answered 503 as if the reply were lost: Knative redelivers. */
  duplicate?: number;
  /** Hold each request up to this many ms, so concurrent deliveries overtake each other. 0 = off. */
  reorderWindowMs?: number;
  /** Extra delay before each request reaches the function, ms. */
  delayMs?: number;
  /** The first N attempts of every event are answered 503 without reaching the function. */
  failFirstAttempts?: number;
  /** Share (0..1) of events acknowledged (202) without reaching the function: lost. */
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
  /** 2: deliver, then answer 503 so that Knative sends it again. */
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

  /** What happens to one event on its way to one function (decided at its first attempt). */
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
