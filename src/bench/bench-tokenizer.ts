// A tokenizer for benchmarks on random weights (bench serve, bench train --method rl): no end-of-sequence id, so every stream runs its full length.
import type { Tokenizer } from '../tokenizer/tokenizer.ts';

/** Every id is a word (` t<id>`); none ends generation, so streams and rollouts always produce their full token count. */
export function benchTokenizer(vocab: number): Tokenizer {
  const word = (id: number): string => ` t${id}`;
  return {
    vocabSize: vocab, eosIds: [], addBos: false,
    encode: () => [], encodeWithOffsets: () => ({ ids: [], offsets: [] }),
    decode: (ids) => ids.map(word).join(''), tokenToId: () => undefined, idToToken: (id) => word(id),
    createDecodeStream: () => ({ push: (id: number) => word(id) }) as unknown as ReturnType<Tokenizer['createDecodeStream']>,
  };
}
