// Small helpers shared by the format readers and writers: open with a clear error, exact reads, full writes, safe keys.
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { WhetError } from '../errors.ts';

/** Opens `path` for reading and returns its descriptor and size; a missing or unreadable file is a WhetError. */
export function openForRead(path: string): { fd: number; size: number } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new WhetError(code === 'ENOENT' ? `${path}: no such file` : `cannot read ${path}: ${(e as Error).message}`);
  }
  const st = fstatSync(fd);
  if (!st.isFile()) {
    closeSync(fd);
    throw new WhetError(`${path}: not a regular file`);
  }
  return { fd, size: st.size };
}

/** Runs `fn` with `path` open for reading, closing it afterwards whatever happens. */
export function withFile<T>(path: string, fn: (fd: number, size: number) => T): T {
  const { fd, size } = openForRead(path);
  try {
    return fn(fd, size);
  } finally {
    closeSync(fd);
  }
}

/** Fills `into` from `fd` at byte `position`; a short read (the file shrank) is a WhetError naming `path`. */
export function readExact(fd: number, into: ArrayBufferView, position: number, path: string): void {
  const u8 = new Uint8Array(into.buffer, into.byteOffset, into.byteLength);
  const chunk = 1 << 30;
  let done = 0;
  while (done < u8.length) {
    const n = readSync(fd, u8, done, Math.min(chunk, u8.length - done), position + done);
    if (n === 0) throw new WhetError(`${path}: unexpected end of file at byte ${position + done}`);
    done += n;
  }
}

/** Writes all of `bytes` at the current position of `fd`, looping over partial writes and 1 GiB chunks. */
export function writeAll(fd: number, bytes: ArrayBufferView): void {
  const u8 = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunk = 1 << 30;
  let done = 0;
  while (done < u8.length) {
    done += writeSync(fd, u8, done, Math.min(chunk, u8.length - done));
  }
}

/** Sets an own enumerable property, so that a key read from a file such as "__proto__" stays plain data. */
export function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}
