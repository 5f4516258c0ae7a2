// Follows a growing metrics.jsonl by byte offset: fs.watch wakes it, a slow stat poll covers filesystems where
// watching misses writes; only complete new lines are passed on, and a file cut shorter (a resume) starts over.
// The first call (the whole file so far, maybe nothing) says reset, so a reconnecting reader replaces what it had.
import { closeSync, openSync, readSync, statSync, watch, type FSWatcher } from 'node:fs';

export interface Tail {
  close(): void;
}

export function tailFile(path: string, onLines: (lines: string[], reset: boolean) => void, pollMs = 1000): Tail {
  let offset = 0;
  let rest = '';
  let closed = false;
  let first = true;
  const read = (): void => {
    if (closed) return;
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      return;
    }
    let reset = first;
    first = false;
    if (size < offset) {
      offset = 0;
      rest = '';
      reset = true;
    }
    if (size === offset && !reset) return;
    const buf = Buffer.alloc(size - offset);
    const fd = openSync(path, 'r');
    try {
      readSync(fd, buf, 0, buf.length, offset);
    } finally {
      closeSync(fd);
    }
    offset = size;
    const text = rest + buf.toString('utf8');
    const cut = text.lastIndexOf('\n');
    rest = text.slice(cut + 1);
    const lines = cut < 0 ? [] : text.slice(0, cut).split('\n').filter((l) => l.trim() !== '');
    if (lines.length > 0 || reset) onLines(lines, reset);
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(path, () => read());
  } catch {
    // no watching here: the poll alone
  }
  const timer = setInterval(read, pollMs);
  read();
  return {
    close() {
      closed = true;
      watcher?.close();
      clearInterval(timer);
    },
  };
}
