// Picks the active backend: native when the addon loads (WHET_BACKEND=reference forces the reference).
import type { Backend } from './backend.ts';
import { loadAddon } from './addon.ts';
import { createNativeBackend } from './native.ts';
import { referenceBackend } from './reference.ts';

let active: Backend | undefined;
let native: Backend | null | undefined;

/** The native backend, or null when the addon cannot be loaded. */
export function nativeBackend(): Backend | null {
  if (native === undefined) {
    const addon = loadAddon();
    native = addon === null ? null : createNativeBackend(addon);
  }
  return native;
}

export function getBackend(): Backend {
  if (active === undefined) {
    active = process.env.WHET_BACKEND === 'reference' ? referenceBackend : (nativeBackend() ?? referenceBackend);
  }
  return active;
}

export function setBackend(name: 'native' | 'reference'): Backend {
  if (name === 'reference') active = referenceBackend;
  else {
    const nb = nativeBackend();
    if (nb === null) throw new Error('native backend unavailable: the addon did not load');
    active = nb;
  }
  return active;
}

export { referenceBackend };
