// Which prompt each annotator ranks next: prompts in file order, each to at most perPrompt different people, never
// to two people at once (an in-memory lease, given back on submit or skip, or lapsing after leaseMs).

interface Lease {
  annotator: string;
  expires: number;
}

export class Assigner {
  /** Annotators who have ranked each prompt (from the file on start-up, then from submissions). */
  private readonly doneBy: Set<string>[];
  private readonly leases = new Map<number, Lease>();
  private readonly skipped = new Map<string, Set<number>>();

  constructor(
    readonly total: number,
    private readonly perPrompt: number,
    private readonly leaseMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.doneBy = Array.from({ length: total }, () => new Set<string>());
  }

  /** The annotator's prompt: the one they hold, else the first they have not ranked or skipped that has room and no other holder. */
  next(annotator: string): number | undefined {
    const t = this.now();
    const held = this.heldBy(annotator, t);
    if (held !== undefined) return held;
    const skipped = this.skipped.get(annotator);
    for (let i = 0; i < this.total; i++) {
      if (this.doneBy[i]!.has(annotator) || this.doneBy[i]!.size >= this.perPrompt || skipped?.has(i)) continue;
      const lease = this.leases.get(i);
      if (lease !== undefined && lease.annotator !== annotator && lease.expires > t) continue;
      this.leases.set(i, { annotator, expires: t + this.leaseMs });
      return i;
    }
    return undefined;
  }

  /** Prompts the annotator could still rank, held by others now or not. */
  open(annotator: string): number {
    const skipped = this.skipped.get(annotator);
    return this.doneBy.filter((s, i) => !s.has(annotator) && s.size < this.perPrompt && !skipped?.has(i)).length;
  }

  /** Whether someone other than annotator holds prompt i now. */
  heldByOther(i: number, annotator: string): boolean {
    const lease = this.leases.get(i);
    return lease !== undefined && lease.annotator !== annotator && lease.expires > this.now();
  }

  record(i: number, annotator: string): void {
    this.doneBy[i]!.add(annotator);
    this.release(i, annotator);
  }

  skip(i: number, annotator: string): void {
    this.skipped.set(annotator, (this.skipped.get(annotator) ?? new Set()).add(i));
    this.release(i, annotator);
  }

  /** Prompts the annotator has ranked, and prompts that still want a ranking from anyone. */
  progress(annotator: string): { mine: number; complete: number; total: number } {
    return { mine: this.doneBy.filter((s) => s.has(annotator)).length, complete: this.doneBy.filter((s) => s.size >= this.perPrompt).length, total: this.total };
  }

  private heldBy(annotator: string, t: number): number | undefined {
    for (const [i, lease] of this.leases) if (lease.annotator === annotator && lease.expires > t) return i;
    return undefined;
  }

  private release(i: number, annotator: string): void {
    if (this.leases.get(i)?.annotator === annotator) this.leases.delete(i);
  }
}
