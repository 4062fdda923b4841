// The image's programs as their pods run them: plain `node` on the build in dist/ (rebuilt first
// when a source changed), never the TypeScript through tsx.
import { join } from 'node:path';
import { ensureBuilt, PROJECT_ROOT } from '../../build.ts';
import { IMAGE_PROGRAMS } from '../../functions/shared/image-programs.ts';

/** Absolute path of the built `program`, current with the sources. */
export async function builtProgram(program: keyof typeof IMAGE_PROGRAMS): Promise<string> {
  await ensureBuilt();
  return join(PROJECT_ROOT, IMAGE_PROGRAMS[program].built);
}
