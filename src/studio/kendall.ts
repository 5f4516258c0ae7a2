// Inter-annotator agreement: Kendall's τ between two people's orderings of the same answers, and its mean over
// every pair of people who ranked the same prompt.

/** τ-a of two best-first orderings of the same items (strings): (concordant − discordant) / pairs; undefined under two items. */
export function kendallTau(a: readonly string[], b: readonly string[]): number | undefined {
  const posB = new Map(b.map((x, i) => [x, i]));
  const items = a.filter((x) => posB.has(x));
  const n = items.length;
  if (n < 2) return undefined;
  let score = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) score += Math.sign(posB.get(items[j]!)! - posB.get(items[i]!)!);
  return score / ((n * (n - 1)) / 2);
}

export interface RankedBy {
  /** The prompt's key: rows with the same key ranked the same prompt. */
  prompt: string;
  annotator: string;
  /** The answers best first (written "better answers" left out: only one person saw them). */
  order: string[];
}

export interface Agreement {
  /** Mean τ over annotator pairs that ranked the same prompt; undefined when no prompt was ranked twice. */
  meanTau?: number;
  pairs: number;
  /** Prompts ranked by two or more people. */
  prompts: number;
}

export function agreement(rows: readonly RankedBy[]): Agreement {
  const byPrompt = new Map<string, RankedBy[]>();
  for (const r of rows) byPrompt.set(r.prompt, [...(byPrompt.get(r.prompt) ?? []), r]);
  const taus: number[] = [];
  let prompts = 0;
  for (const group of byPrompt.values()) {
    // One ranking per person: their latest.
    const latest = [...new Map(group.map((r) => [r.annotator, r])).values()];
    if (latest.length < 2) continue;
    prompts++;
    for (let i = 0; i < latest.length; i++)
      for (let j = i + 1; j < latest.length; j++) {
        const t = kendallTau(latest[i]!.order, latest[j]!.order);
        if (t !== undefined) taus.push(t);
      }
  }
  return { meanTau: taus.length > 0 ? taus.reduce((a, b) => a + b, 0) / taus.length : undefined, pairs: taus.length, prompts };
}
