// Loads a user's module (.js/.mjs/.cjs, or .ts/.mts/.cts through tsx) and returns its default-exported function:
// one loader for eval scorers and RL reward functions alike.
import { existsSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { WhetError } from '../errors.ts';

const MODULE_EXTENSIONS = ['.js', '.mjs', '.cjs', '.ts', '.mts', '.cts'];

/**
 * The default export of the module at path, which must be a function. `what` names the module in errors
 * ('scorer', 'reward function') and `signature` says what the function should look like.
 */
export async function loadDefaultFunction(path: string, what: string, signature: string): Promise<(...args: never[]) => unknown> {
  const abs = resolve(path);
  if (!existsSync(abs)) throw new WhetError(`${path}: no such ${what} module`);
  const ext = extname(abs).toLowerCase();
  if (!MODULE_EXTENSIONS.includes(ext)) throw new WhetError(`${path}: a ${what} must be a ${MODULE_EXTENSIONS.join('/')} module`);
  let mod: { default?: unknown };
  try {
    // tsImport works whether or not tsx is already registered in this process.
    mod = ext.endsWith('ts') ? await (await import('tsx/esm/api')).tsImport(pathToFileURL(abs).href, import.meta.url) : await import(pathToFileURL(abs).href);
  } catch (e) {
    throw new WhetError(`${path}: cannot load ${what} module: ${(e as Error).message}`);
  }
  let fn = mod.default;
  // A CommonJS module.exports = { default: fn } arrives wrapped once more, and so does a transpiled ES module (tsx
  // compiles .ts to CommonJS outside a "type": "module" package), whose default export may then be anything or missing.
  const wrapped = fn as { default?: unknown; __esModule?: unknown } | null;
  if (typeof wrapped === 'object' && wrapped !== null && (wrapped.__esModule === true || typeof wrapped.default === 'function')) fn = wrapped.default;
  if (typeof fn !== 'function') throw new WhetError(`${path}: the ${what} module must default-export a function ${signature}; its default export is ${fn === undefined ? 'missing' : typeof fn}`);
  return fn as (...args: never[]) => unknown;
}
