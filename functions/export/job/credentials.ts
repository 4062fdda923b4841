// The source credentials inside the export Job: one file per Secret key in CREDENTIALS_DIR (a
// Secret volume). Never from env or args, never logged.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Decoded Secret data, or undefined when the directory does not exist or is empty. */
export async function readCredentialsDir(dir: string): Promise<Record<string, string> | undefined> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  // kubelet's atomic-writer keeps ..data and timestamped directories beside the key symlinks.
  const keys = names.filter((n) => !n.startsWith('.'));
  if (keys.length === 0) return undefined;
  const data: Record<string, string> = {};
  for (const key of keys) data[key] = await readFile(join(dir, key), 'utf8');
  return data;
}
