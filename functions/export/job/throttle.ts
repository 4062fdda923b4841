// Coalesces frequent "something changed" signals into at most one run per interval, with a
// trailing run so that the last change is never lost. Runs never overlap. Pure apart from timers,
// which can be injected.
export interface ThrottleClock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

const realClock: ThrottleClock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface Throttled {
  /** Marks a change: `run` happens now if the interval has passed, else once at its end. */
  signal(): void;
  /** Runs now if a change is pending (cancelling the timer) and waits for every run to finish. */
  flush(): Promise<void>;
}

export function throttle(
  run: () => Promise<void>,
  intervalMs: number,
  onError: (e: unknown) => void = () => undefined,
  clock: ThrottleClock = realClock,
): Throttled {
  let last = -Infinity;
  let timer: unknown;
  let dirty = false;
  let chain: Promise<void> = Promise.resolve();

  const fire = () => {
    timer = undefined;
    if (!dirty) return;
    dirty = false;
    last = clock.now();
    chain = chain.then(run).catch(onError);
  };
  return {
    signal() {
      dirty = true;
      if (timer !== undefined) return;
      const wait = last + intervalMs - clock.now();
      if (wait <= 0) fire();
      else timer = clock.setTimer(fire, wait);
    },
    async flush() {
      if (timer !== undefined) clock.clearTimer(timer);
      fire();
      await chain;
    },
  };
}
