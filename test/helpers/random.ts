// Seeded uniform numbers for tests, from the project's own generator.
import { Rng } from '../../src/tensor/random.ts';

/** A function returning uniform numbers in [0, 1), the same sequence for the same seed. */
export function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.uniform();
}
