// The live view `npm start` prints: one line per import with its phase, percent and bytes.
import type { VirtualMachineImportStatus } from '../functions/shared/api/index.ts';

export interface ImportRow {
  name: string;
  status?: VirtualMachineImportStatus;
}

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const size = (n: number) => (n >= GiB ? `${(n / GiB).toFixed(1)} GiB` : `${(n / MiB).toFixed(0)} MiB`);

function bar(percent: number, width = 20): string {
  const filled = Math.round((Math.max(0, Math.min(100, percent)) / 100) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

/** Why the import is where it is: the latest condition's message. */
function lastMessage(status: VirtualMachineImportStatus | undefined): string {
  const conditions = [...(status?.importConditions ?? [])].sort((a, b) =>
    String(a.lastUpdateTime ?? '').localeCompare(String(b.lastUpdateTime ?? '')),
  );
  return conditions.at(-1)?.message ?? '';
}

export function renderProgress(rows: ImportRow[]): string[] {
  const width = Math.max(4, ...rows.map((r) => r.name.length));
  const lines: string[] = [];
  for (const { name, status } of rows) {
    const percent = status?.progress ?? 0;
    const phase = status?.importStatus || 'new';
    lines.push(`${name.padEnd(width)}  ${bar(percent)} ${String(percent).padStart(3)}%  ${phase}`);
    for (const [i, disk] of (status?.diskImportStatus ?? []).entries()) {
      const p = disk.progress;
      if (!p) continue;
      lines.push(
        `${' '.repeat(width)}    disk ${i}: ${p.phase} ${size(p.bytesDone ?? 0)} / ${size(p.bytesTotal ?? 0)}`,
      );
    }
    const message = lastMessage(status);
    if (message) lines.push(`${' '.repeat(width)}    ${message.slice(0, 160)}`);
  }
  return lines;
}
