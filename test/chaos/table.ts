// The chaos run's table, as Markdown: one row per fault, with the proof it hit, the outcome, the
// time to recover, what was left behind and whether the disks are identical.
import type { RowResult } from './scenario.ts';

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\s+/g, ' ').trim();
const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

export function chaosTable(rows: RowResult[]): string {
  const header = [
    'fault',
    'source',
    'moment',
    'proof it hit',
    'outcome',
    'recover s',
    'leftovers',
    'bytes identical',
    'pass',
  ];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const r of rows)
    lines.push(
      `| ${[
        r.fault,
        r.source,
        r.moment,
        r.proof,
        clip(r.outcome, 140),
        r.recoverSeconds === undefined ? '–' : r.recoverSeconds.toFixed(1),
        r.leftovers.length ? r.leftovers.join(', ') : 'none',
        r.bytesIdentical,
        r.problems.length ? `no: ${r.problems.join('; ')}` : 'yes',
      ]
        .map(cell)
        .join(' | ')} |`,
    );
  return lines.join('\n');
}
