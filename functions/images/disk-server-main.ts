// Entry point of the per-import disk server's pod (`node dist/functions/images/disk-server-main.mjs`,
// the build of this file): serves $SCRATCH_DIR on $PORT under the path token $DISK_SERVER_TOKEN.
import { createDiskServer } from './disk-server.ts';

const token = process.env.DISK_SERVER_TOKEN ?? '';
if (token.length < 16) {
  console.error('DISK_SERVER_TOKEN must be set (at least 16 characters)');
  process.exit(2);
}
const server = createDiskServer({ scratchDir: process.env.SCRATCH_DIR ?? '/scratch', token });
server.listen(Number(process.env.PORT ?? 8080));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
