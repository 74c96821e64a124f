import fs from 'node:fs';
import { randomBytes } from 'node:crypto';

/**
 * Creates `file` with `content` unless it exists, atomically: the content is written to a temporary file beside it
 * and hard-linked into place, so a process that starts at the same moment reads either nothing or the whole file,
 * never a half-written one. Returns false when another process created it first.
 */
export function createFileAtomically(file: string, content: string, mode = 0o600): boolean {
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, content, { mode, flag: 'wx' });
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}
