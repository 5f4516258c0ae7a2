// Stop strings over streamed text: finds a stop string and holds back text that may be the start of one.
export class StopMatcher {
  constructor(private readonly stops: readonly string[]) {}

  /** Index of the earliest stop string in text at or after `from` (-1 if none). */
  find(text: string, from: number): number {
    let best = -1;
    for (const s of this.stops) {
      if (s === '') continue;
      const i = text.indexOf(s, Math.max(0, from - s.length + 1));
      if (i !== -1 && (best === -1 || i < best)) best = i;
    }
    return best;
  }

  /** How much of text is safe to emit: everything but a suffix that could still grow into a stop string. */
  safeLength(text: string): number {
    let hold = 0;
    for (const s of this.stops)
      for (let k = Math.min(s.length - 1, text.length); k > hold; k--)
        if (text.endsWith(s.slice(0, k))) {
          hold = k;
          break;
        }
    return text.length - hold;
  }
}
