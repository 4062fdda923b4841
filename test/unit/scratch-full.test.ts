import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isScratchFull, scratchFullError } from '../../functions/shared/sources/scratch-full.ts';
import { SourceError } from '../../functions/shared/sources/source-error.ts';

const errno = (code: string) => Object.assign(new Error(`${code}: write`), { code });

test('ENOSPC and EDQUOT are a full scratch volume, also wrapped as a cause', () => {
  assert.equal(isScratchFull(errno('ENOSPC')), true);
  assert.equal(isScratchFull(errno('EDQUOT')), true);
  assert.equal(isScratchFull(new SourceError('ExportFailed', 'x', { cause: errno('ENOSPC') })), true);
  assert.equal(
    isScratchFull(new Error('outer', { cause: new Error('mid', { cause: errno('ENOSPC') }) })),
    true,
  );
});

test("qemu-img's stderr saying so is a full volume", () => {
  const execaError = Object.assign(new Error('Command failed'), {
    stderr: 'qemu-img: error while writing at byte 0: No space left on device',
  });
  assert.equal(isScratchFull(execaError), true);
});

test('other local and transport failures are not', () => {
  assert.equal(isScratchFull(errno('EIO')), false);
  assert.equal(isScratchFull(errno('ECONNRESET')), false);
  assert.equal(isScratchFull(new SourceError('DiskDownloadFailed', 'no space in the message counts')), false);
  const loop: Error & { cause?: unknown } = new Error('loop');
  loop.cause = loop;
  assert.equal(isScratchFull(loop), false);
});

test('the error is terminal, says what to do and keeps an already terminal one', () => {
  const e = scratchFullError(errno('ENOSPC'));
  assert.equal(e.reason, 'ScratchVolumeFull');
  assert.equal(e.retryable, false);
  assert.match(e.message, /scratch volume is full.*SCRATCH_SIZE_FACTOR.*create it again/s);
  assert.equal(scratchFullError(e), e);
  assert.equal(isScratchFull(e), true);
});
