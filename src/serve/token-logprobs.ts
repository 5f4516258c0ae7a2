// Log-probabilities of a position's tokens under the model's distribution (log-softmax of the raw logits, before
// temperature or top-p), as OpenAI's `logprobs` reports them: the chosen token's and the k most likely.
export interface PositionLogprobs {
  of(id: number): number;
  top: { id: number; logprob: number }[];
}

export function tokenLogprobs(logits: Float32Array, k: number): PositionLogprobs {
  let max = -Infinity;
  for (const l of logits) if (l > max) max = l;
  let sum = 0;
  for (const l of logits) sum += Math.exp(l - max);
  const logZ = max + Math.log(sum);
  const top: { id: number; logprob: number }[] = [];
  if (k > 0) {
    // A bounded insertion list: k is small (OpenAI allows 20), the vocabulary large.
    for (let id = 0; id < logits.length; id++) {
      const l = logits[id]!;
      if (top.length === k && l <= top[k - 1]!.logprob) continue;
      let at = top.length;
      while (at > 0 && top[at - 1]!.logprob < l) at--;
      top.splice(at, 0, { id, logprob: l });
      if (top.length > k) top.pop();
    }
    for (const t of top) t.logprob -= logZ;
  }
  const chosen = Float32Array.from(logits); // sampling may change logits in place
  return { of: (id) => chosen[id]! - logZ, top };
}
