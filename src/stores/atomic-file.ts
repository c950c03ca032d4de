import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * Replaces `file` so that a reader sees either the old content or the new, never a half-written
 * file: the text goes to a temporary file in the same directory (rename is atomic only within
 * one filesystem), is fsynced, and is renamed over the target. The directory is fsynced too, or
 * a crash right after the rename could bring the old file back.
 */
export async function writeFileAtomic(file: string, text: string, mode: number): Promise<void> {
  const directory = path.dirname(file);
  const temporary = path.join(directory, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  // A first write may target a directory nobody made yet; private, like the file.
  await mkdir(directory, { recursive: true, mode: 0o700 });
  try {
    const handle = await open(temporary, 'wx', mode);
    try {
      await handle.chmod(mode); // the umask may have narrowed it; make it exact
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  await syncDirectory(directory);
}

async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } catch {
    // Some filesystems refuse fsync on a directory; the rename has still happened.
  } finally {
    await handle.close();
  }
}
