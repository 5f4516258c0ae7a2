// Confines request-given paths to the folders named on the command line: `..`, absolute paths and symlinks that
// lead outside are refused, whatever their spelling.
import { realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { ServeError } from '../serve/types.ts';

/** The real path of `rel` inside `root` ('.': root itself), or a 404 ServeError (the same answer whether it is outside or absent). */
export function within(root: string, rel: string): string {
  const notFound = new ServeError(404, 'invalid_request_error', `no such file: ${rel}`, 'not_found');
  if (rel === '' || isAbsolute(rel) || rel.includes('\0') || rel.split(/[\\/]/).includes('..')) throw notFound;
  let real: string;
  try {
    real = realpathSync(resolve(root, rel));
  } catch {
    throw notFound;
  }
  const rootReal = realpathSync(root);
  const r = relative(rootReal, real);
  if ((r === '' && rel !== '.') || r.startsWith(`..${sep}`) || r === '..' || isAbsolute(r)) throw notFound;
  return real;
}
