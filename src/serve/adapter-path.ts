// Where a runtime-loaded adapter may come from: only inside the configured adapter folder, whatever `..`,
// absolute paths or symlinks the request's lora_path tries.
import { realpathSync } from 'node:fs';
import { isAbsolute, resolve, sep } from 'node:path';
import { badRequest } from './errors.ts';

/** The real path of lora_path (relative to adapterDir, or absolute) when it lies inside adapterDir; a 400 otherwise. */
export function resolveAdapterPath(adapterDir: string, loraPath: string): string {
  if (loraPath.split(/[\\/]/).includes('..')) throw badRequest(`lora_path must not contain '..': adapters load only from the adapter folder`, 'lora_path');
  const root = realpathSync(adapterDir);
  const target = resolve(root, loraPath);
  let real: string;
  try {
    real = realpathSync(target);
  } catch {
    throw badRequest(`lora_path ${loraPath}: no such adapter folder${isAbsolute(loraPath) ? '' : ' in the adapter folder'}`, 'lora_path');
  }
  // Compared after resolving symlinks, so that a link inside the folder cannot point outside it.
  if (!real.startsWith(root + sep)) throw badRequest(`lora_path ${loraPath} lies outside the adapter folder`, 'lora_path');
  return real;
}
