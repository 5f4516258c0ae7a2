// The dropout mask as a function of (seed, element index): kernels regenerate it in backward instead of storing it.
// Native kernels compute the same hash (native/src/impl/kernels_elementwise.inc, `dropout`).

/** Integer threshold on the hash's top 24 bits (an element is kept when it is at least this) and the kept scale 1/(1-p). */
export function dropoutParams(p: number): { threshold: number; scale: number } {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout probability must be in [0, 1), got ${p}`);
  return { threshold: Math.round(p * 2 ** 24), scale: Math.fround(1 / (1 - p)) };
}

/** Whether element `index` survives under `seed` (lowbias32 of index·golden ⊕ seed, top 24 bits ≥ threshold). */
export function dropoutKeeps(seed: number, index: number, threshold: number): boolean {
  let h = (Math.imul(index, 0x9e3779b9) ^ seed) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x21f0aaad) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, 0x735a2d97) >>> 0;
  h ^= h >>> 15;
  return h >>> 8 >= threshold;
}
