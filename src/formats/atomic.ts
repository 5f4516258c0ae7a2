// Atomic file output: write to a temporary name in the target folder, fsync, then rename into place.
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { WhetError } from '../errors.ts';

/**
 * Creates `path` atomically: `write(fd)` fills a temporary file next to it, which is then renamed over
 * `path`, so readers see the old file or the complete new one, never a torn one. On failure the
 * temporary file is removed and the error rethrown (fs errors become a WhetError naming `path`).
 */
export function writeFileAtomic(path: string, write: (fd: number) => void): void {
  // Same folder as the target so the rename never crosses filesystems.
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let fd: number;
  try {
    fd = openSync(tmp, 'wx');
  } catch (e) {
    throw new WhetError(`cannot write ${path}: ${(e as Error).message}`);
  }
  try {
    write(fd);
    fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    renameSync(tmp, path);
  } catch (e) {
    if (fd >= 0) closeSync(fd);
    try { unlinkSync(tmp); } catch { /* already gone */ }
    if (e instanceof WhetError) throw e;
    throw new WhetError(`cannot write ${path}: ${(e as Error).message}`);
  }
  syncDir(dirname(path));
}

// Makes the rename itself durable; some platforms cannot open folders, which only weakens durability.
function syncDir(dir: string): void {
  let fd = -1;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    /* best effort */
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/** Writes `text` (UTF-8) to `path` atomically. */
export function writeTextAtomic(path: string, text: string): void {
  const buf = Buffer.from(text, 'utf8');
  writeFileAtomic(path, (fd) => {
    for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off);
  });
}

/** Writes one JSON value per line to `path` atomically. */
export function writeJsonlAtomic(path: string, rows: readonly unknown[]): void {
  writeTextAtomic(path, rows.map((r) => JSON.stringify(r) + '\n').join(''));
}
