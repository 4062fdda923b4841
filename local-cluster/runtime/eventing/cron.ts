// Cron schedules as PingSource accepts them (robfig/cron standard parser): five fields
// (minute hour day-of-month month day-of-week) with *, lists, ranges, steps and month/day names,
// the descriptors @yearly/@annually/@monthly/@weekly/@daily/@midnight/@hourly and "@every <go
// duration>". An optional "CRON_TZ=..."/"TZ=..." prefix is accepted; times are evaluated in UTC
// unless it is UTC-compatible (documented limitation: other zones are rejected).

export interface CronSchedule {
  next(after: Date): Date;
}

const DESCRIPTORS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

/** Go time.ParseDuration subset: sequences of <number><unit> with units h, m, s, ms. */
export function parseGoDuration(text: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
  let total = 0;
  let consumed = 0;
  for (const m of text.matchAll(re)) {
    if (m.index !== consumed) break;
    consumed += m[0].length;
    const unit = { h: 3600_000, m: 60_000, s: 1000, ms: 1 }[m[2] as 'h' | 'm' | 's' | 'ms'];
    total += Number(m[1]) * unit;
  }
  if (consumed !== text.length || text.length === 0) throw new Error(`invalid duration "${text}"`);
  return total;
}

function parseField(field: string, min: number, max: number, names?: string[]): Set<number> {
  const out = new Set<number>();
  const value = (s: string): number => {
    const idx = names?.indexOf(s.toLowerCase()) ?? -1;
    const n = idx >= 0 ? idx + (names === MONTHS ? 1 : 0) : Number(s);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new Error(`cron value "${s}" outside ${min}-${max}`);
    return n;
  };
  for (const part of field.split(',')) {
    const [range, stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw new Error(`invalid cron step in "${part}"`);
    let lo: number;
    let hi: number;
    if (range === '*' || range === '?') {
      lo = min;
      hi = max;
    } else if (range!.includes('-')) {
      const [a, b] = range!.split('-');
      lo = value(a!);
      hi = value(b!);
    } else {
      lo = value(range!);
      hi = stepText === undefined ? lo : max;
    }
    if (lo > hi) throw new Error(`invalid cron range "${part}"`);
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

export function parseCron(expression: string): CronSchedule {
  let expr = expression.trim();
  const tz = /^(?:CRON_TZ|TZ)=(\S+)\s+/.exec(expr);
  if (tz) {
    if (!['UTC', 'Etc/UTC', 'GMT'].includes(tz[1]!)) {
      throw new Error(`time zone ${tz[1]} is not supported by the local PingSource (use UTC)`);
    }
    expr = expr.slice(tz[0].length);
  }
  if (expr.startsWith('@every ')) {
    const every = parseGoDuration(expr.slice('@every '.length).trim());
    if (every < 1000) throw new Error('@every needs at least 1s');
    return { next: (after) => new Date(Math.floor(after.getTime() / 1000) * 1000 + every) };
  }
  expr = DESCRIPTORS[expr] ?? expr;
  const fields = expr.split(/\s+/);
  if (fields.length !== 5) throw new Error(`cron "${expression}" must have 5 fields`);
  const minutes = parseField(fields[0]!, 0, 59);
  const hours = parseField(fields[1]!, 0, 23);
  const dom = parseField(fields[2]!, 1, 31);
  const months = parseField(fields[3]!, 1, 12, MONTHS);
  const dowRaw = new Set([...parseField(fields[4]!, 0, 7, DAYS)].map((d) => d % 7));
  const domStar = fields[2]!.startsWith('*') || fields[2] === '?';
  const dowStar = fields[4]!.startsWith('*') || fields[4] === '?';
  const dayMatches = (d: Date): boolean => {
    const a = dom.has(d.getUTCDate());
    const b = dowRaw.has(d.getUTCDay());
    // Vixie cron / robfig: if both fields are restricted, either may match.
    if (domStar || dowStar) return a && b;
    return a || b;
  };
  return {
    next(after: Date): Date {
      const t = new Date(Math.floor(after.getTime() / 60_000) * 60_000 + 60_000);
      const limit = after.getTime() + 5 * 366 * 86400_000;
      while (t.getTime() < limit) {
        if (!months.has(t.getUTCMonth() + 1)) {
          t.setUTCMonth(t.getUTCMonth() + 1, 1);
          t.setUTCHours(0, 0, 0, 0);
          continue;
        }
        if (!dayMatches(t)) {
          t.setUTCDate(t.getUTCDate() + 1);
          t.setUTCHours(0, 0, 0, 0);
          continue;
        }
        if (!hours.has(t.getUTCHours())) {
          t.setUTCHours(t.getUTCHours() + 1, 0, 0, 0);
          continue;
        }
        if (!minutes.has(t.getUTCMinutes())) {
          t.setUTCMinutes(t.getUTCMinutes() + 1, 0, 0);
          continue;
        }
        return t;
      }
      throw new Error(`cron "${expression}" never fires`);
    },
  };
}
