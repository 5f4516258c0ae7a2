// Locates ../shared/data; tests that need it skip with a printed reason when it is absent.
import { existsSync } from 'node:fs';
import path from 'node:path';

export const SHARED = path.resolve('../shared/data');
export const hasShared = existsSync(SHARED);
export const sharedSkip: string | false = hasShared ? false : `../shared/data is absent (${SHARED}): real-data test skipped`;
export const sharedPath = (...parts: string[]): string => path.join(SHARED, ...parts);

export const STORIES_GGUF = sharedPath('models/stories260K/stories260K.gguf');
/** Greedy continuation of BOS by stories260K, from ../shared/data/README.md (measured outside this project). */
export const STORIES_GREEDY =
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.';
