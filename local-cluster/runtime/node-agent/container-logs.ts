// Container logs as the kubelet keeps them: one file per container instance,
// <pods>/<namespace>_<pod>_<uid>/<container>/<restartCount>.log, in the CRI log format
// ("<RFC3339Nano time> <stdout|stderr> <F|P> <text>", k8s.io/cri-client/pkg/logs), and the reader
// behind the kubelet's /containerLogs endpoint (tailLines, limitBytes, sinceTime, timestamps,
// follow). Each line also goes, as plain text, to the process's file in .local/logs/.
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, open, readdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

export function containerLogDir(podsDir: string, namespace: string, pod: string, uid: string): string {
  return join(podsDir, `${namespace}_${pod}_${uid}`);
}

export function containerLogFile(podLogDir: string, container: string, restartCount: number): string {
  return join(podLogDir, container, `${restartCount}.log`);
}

/** RFC 3339 with nanoseconds, as CRI runtimes stamp each line. */
function criTime(d = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}

export class ContainerLogWriter {
  private readonly cri: WriteStream;
  private readonly plain: WriteStream;
  private open = 0;
  private closed?: Promise<void>;

  private constructor(criPath: string, plainPath: string) {
    this.cri = createWriteStream(criPath, { flags: 'a' });
    this.plain = createWriteStream(plainPath, { flags: 'a' });
  }

  static async create(criPath: string, plainPath: string): Promise<ContainerLogWriter> {
    await mkdir(dirname(criPath), { recursive: true });
    await mkdir(dirname(plainPath), { recursive: true });
    return new ContainerLogWriter(criPath, plainPath);
  }

  attach(stream: 'stdout' | 'stderr', from: Readable): void {
    this.open++;
    const lines = createInterface({ input: from, crlfDelay: Infinity });
    lines.on('line', (line) => this.write(stream, line));
    lines.on('close', () => this.open--);
  }

  /** A line from the node agent itself (start failures), in the container's log like a runtime's. */
  runtimeLine(text: string): void {
    this.write('stderr', text);
  }

  private write(stream: 'stdout' | 'stderr', line: string): void {
    this.cri.write(`${criTime()} ${stream} F ${line}\n`);
    this.plain.write(`${line}\n`);
  }

  /** Waits for the pipes to drain, then closes the files. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      while (this.open > 0) await new Promise((r) => setTimeout(r, 10));
      await Promise.all([this.cri, this.plain].map((s) => new Promise<void>((r) => s.end(() => r()))));
    })();
    return this.closed;
  }
}

export interface LogOptions {
  tailLines?: number;
  limitBytes?: number;
  sinceTime?: Date;
  timestamps?: boolean;
}

interface CriLine {
  time: string;
  text: string;
}

function parseCriLine(raw: string): CriLine | undefined {
  const m = /^(\S+) (stdout|stderr) ([FP]) (.*)$/.exec(raw);
  return m ? { time: m[1]!, text: m[4]! } : undefined;
}

function render(lines: CriLine[], opts: LogOptions): string {
  return lines.map((l) => (opts.timestamps ? `${l.time} ${l.text}\n` : `${l.text}\n`)).join('');
}

/** The selected part of a finished (or running) log file. */
export async function readContainerLog(
  file: string,
  opts: LogOptions,
): Promise<{ text: string; offset: number }> {
  const handle = await open(file, 'r');
  try {
    const content = await handle.readFile('utf8');
    const complete = content.slice(0, content.lastIndexOf('\n') + 1);
    let lines = complete
      .split('\n')
      .filter(Boolean)
      .map(parseCriLine)
      .filter((l): l is CriLine => !!l);
    if (opts.sinceTime) lines = lines.filter((l) => Date.parse(l.time) >= opts.sinceTime!.getTime());
    if (opts.tailLines !== undefined) lines = lines.slice(Math.max(0, lines.length - opts.tailLines));
    return { text: render(lines, opts), offset: Buffer.byteLength(complete) };
  } finally {
    await handle.close();
  }
}

/** New complete lines appended after `offset`. */
export async function readContainerLogFrom(
  file: string,
  offset: number,
  opts: LogOptions,
): Promise<{ text: string; offset: number }> {
  const size = (await stat(file)).size;
  if (size <= offset) return { text: '', offset };
  const handle = await open(file, 'r');
  try {
    const buf = Buffer.alloc(size - offset);
    await handle.read(buf, 0, buf.length, offset);
    const s = buf.toString('utf8');
    const complete = s.slice(0, s.lastIndexOf('\n') + 1);
    const lines = complete
      .split('\n')
      .filter(Boolean)
      .map(parseCriLine)
      .filter((l): l is CriLine => !!l);
    return { text: render(lines, opts), offset: offset + Buffer.byteLength(complete) };
  } finally {
    await handle.close();
  }
}

/** Restart counts that have a log file, oldest first. */
export async function containerInstances(podLogDir: string, container: string): Promise<number[]> {
  try {
    return (await readdir(join(podLogDir, container)))
      .map((f) => /^(\d+)\.log$/.exec(f)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  } catch {
    return [];
  }
}
