// An endless, seeded, resumable batch iterator: reshuffles every epoch, can group items of similar length under a
// token budget, and its state (epoch, index, RNG) restores the exact same batches.
import { WhetError } from '../errors.ts';
import { Rng } from '../tensor/random.ts';
import { bucketLength } from './batch.ts';

export interface IteratorState {
  epoch: number;
  /** Items of this epoch's plan already handed out (always whole batches). */
  index: number;
  /** The generator as it was before this epoch's shuffles, so restore() can redo them. */
  rngState: number[];
}

export interface DataIteratorOptions<T, B> {
  /** Items per batch (the most, under maxBatchTokens). */
  batchSize: number;
  seed: number;
  /** Default true; false keeps file order every epoch (and, with groupByLength, the sorted batch order). */
  shuffle?: boolean;
  /** Drop an epoch's last, smaller batch (default false: it is yielded as is). Not with maxBatchTokens. */
  dropLast?: boolean;
  /** Turns the items of a batch into what the trainer consumes (e.g. padBatch). */
  collate: (items: T[]) => B;
  /** Tokens in an item; needed by groupByLength and maxBatchTokens. */
  lengthOf?: (item: T) => number;
  /**
   * Batches of similar lengths, as Hugging Face's LengthGroupedSampler: the shuffled order is cut into megabatches,
   * each sorted longest first and cut into batches; the batches are then shuffled, the one with the longest item first.
   */
  groupByLength?: boolean;
  /** Most tokens in a batch, padding included: items × padded length of the longest. An item alone over it is a batch by itself. */
  maxBatchTokens?: number;
  /** The padded length maxBatchTokens assumes is bucketLength(longest, bucketMax), as padBatch({ bucket }) pads; without it, the longest. */
  bucketMax?: number;
}

// HF's default megabatch: 50 batches, or fewer so that a small set still makes 4 megabatches to mix.
const MEGABATCH_BATCHES = 50;

export class DataIterator<T, B> {
  private readonly rng: Rng;
  private readonly lengths: number[] | undefined;
  private plan: number[][] = [];
  private epochRng: number[] = [];
  private epochNo = 0;
  private pos = 0;
  private handed = 0;

  constructor(private readonly items: readonly T[], private readonly opts: DataIteratorOptions<T, B>) {
    if (items.length === 0) throw new WhetError('no examples to iterate over');
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new WhetError(`batch size must be a positive integer, got ${opts.batchSize}`);
    if (opts.dropLast === true && opts.batchSize > items.length) throw new WhetError(`batch size ${opts.batchSize} exceeds the ${items.length} examples`);
    const budget = opts.maxBatchTokens;
    if (budget !== undefined && (!Number.isInteger(budget) || budget < 1)) throw new WhetError(`maxBatchTokens must be a positive integer, got ${budget}`);
    if (budget !== undefined && opts.dropLast === true) throw new WhetError('dropLast cannot be used with maxBatchTokens (batch sizes vary by design)');
    if (opts.bucketMax !== undefined && (!Number.isInteger(opts.bucketMax) || opts.bucketMax < 1)) throw new WhetError(`bucketMax must be a positive integer, got ${opts.bucketMax}`);
    if ((opts.groupByLength === true || budget !== undefined) && opts.lengthOf === undefined) {
      throw new WhetError(`${opts.groupByLength === true ? 'groupByLength' : 'maxBatchTokens'} needs lengthOf (the token length of an item)`);
    }
    // Lengths once, not every epoch: lengthOf may be costly and items never change.
    this.lengths = opts.lengthOf === undefined ? undefined : items.map((item, i) => {
      const n = opts.lengthOf!(item);
      if (!Number.isInteger(n) || n < 0) throw new WhetError(`lengthOf gave ${n} for item ${i}; expected a non-negative integer`);
      return n;
    });
    this.rng = new Rng(opts.seed);
    this.startEpoch(0);
  }

  private startEpoch(epoch: number): void {
    this.epochNo = epoch;
    this.pos = 0;
    this.handed = 0;
    this.epochRng = this.rng.getState();
    this.plan = this.planEpoch(this.rng);
  }

  /** This epoch's batches as item indices; every random draw comes from rng, so its state replays the plan. */
  private planEpoch(rng: Rng): number[][] {
    const { batchSize, maxBatchTokens, groupByLength } = this.opts;
    const shuffle = this.opts.shuffle !== false;
    const order = this.items.map((_, i) => i);
    if (shuffle) shuffleInPlace(order, rng);
    const lengths = this.lengths;
    let runs = [order];
    if (groupByLength === true) {
      const mult = Math.max(1, Math.min(Math.floor(order.length / (batchSize * 4)), MEGABATCH_BATCHES));
      runs = chunk(order, batchSize * mult).map((m) => m.sort((a, b) => lengths![b]! - lengths![a]!));
    }
    let batches: number[][];
    if (maxBatchTokens === undefined) {
      // Megabatches hold whole batches, so cutting them end to end leaves only the epoch's last batch short.
      batches = chunk(runs.flat(), batchSize);
      if (this.opts.dropLast === true && batches.at(-1)!.length < batchSize) batches.pop();
    } else {
      const padded = (n: number): number => (this.opts.bucketMax === undefined ? n : bucketLength(n, this.opts.bucketMax));
      batches = runs.flatMap((run) => budgetBatches(run, lengths!, batchSize, maxBatchTokens, padded));
    }
    if (groupByLength === true) {
      // Sorted megabatches would trend lengths through the epoch; shuffled batches do not.
      if (shuffle) shuffleInPlace(batches, rng);
      // The longest batch first, so running out of memory shows at the first step rather than hours in.
      let longest = 0;
      let most = -1;
      batches.forEach((b, i) => {
        const m = Math.max(...b.map((x) => lengths![x]!));
        if (m > most) [longest, most] = [i, m];
      });
      [batches[0], batches[longest]] = [batches[longest]!, batches[0]!];
    }
    return batches;
  }

  /** The epoch the next batch comes from (0-based). */
  get epoch(): number {
    return this.epochNo;
  }

  /** Batches in the current epoch's plan (for progress). */
  get batchesPerEpoch(): number {
    return this.plan.length;
  }

  /** The next batch; epochs roll over without end. */
  next(): B {
    const batch = this.plan[this.pos++]!;
    this.handed += batch.length;
    this.rollOver();
    return this.opts.collate(batch.map((i) => this.items[i]!));
  }

  // As soon as an epoch is spent, so that epoch and batchesPerEpoch describe the batch that comes next.
  private rollOver(): void {
    if (this.pos === this.plan.length) this.startEpoch(this.epochNo + 1);
  }

  state(): IteratorState {
    return { epoch: this.epochNo, index: this.handed, rngState: [...this.epochRng] };
  }

  /** Puts the iterator where state() was taken (on the same items and options). */
  restore(state: unknown): void {
    const s = state as Partial<IteratorState> | null;
    const ok =
      s !== null && typeof s === 'object' && Number.isInteger(s.epoch) && s.epoch! >= 0 && Number.isInteger(s.index) && s.index! >= 0 && s.index! <= this.items.length &&
      Array.isArray(s.rngState) && s.rngState.length === 4 && s.rngState.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32);
    if (!ok) throw new WhetError('data iterator state is malformed (expected {epoch, index, rngState[4]})');
    // Plan on a copy first, so a state that does not fit leaves this iterator as it was.
    const rng = new Rng(0);
    rng.setState(s.rngState!);
    const plan = this.planEpoch(rng);
    let pos = 0;
    let handed = 0;
    while (handed < s.index! && pos < plan.length) handed += plan[pos++]!.length;
    if (handed !== s.index) throw new WhetError(`data iterator state is malformed: ${s.index} items is not a whole number of batches of epoch ${s.epoch} (other items or options?)`);
    this.rng.setState(rng.getState());
    this.epochNo = s.epoch!;
    this.epochRng = [...s.rngState!];
    this.plan = plan;
    this.pos = pos;
    this.handed = handed;
    this.rollOver();
  }
}

/** Fisher–Yates with rng (the draws the plain iterator has always made, so its orders stay as they were). */
function shuffleInPlace<X>(xs: X[], rng: Rng): void {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
}

function chunk<X>(xs: X[], size: number): X[][] {
  const out: X[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

/** Cuts run in order into batches of at most batchSize items whose count × padded longest stays within budget. */
function budgetBatches(run: number[], lengths: number[], batchSize: number, budget: number, padded: (n: number) => number): number[][] {
  const out: number[][] = [];
  let cur: number[] = [];
  let longest = 0;
  for (const i of run) {
    const n = lengths[i]!;
    if (cur.length > 0 && (cur.length + 1 > batchSize || (cur.length + 1) * padded(Math.max(longest, n)) > budget)) {
      out.push(cur);
      cur = [];
      longest = 0;
    }
    cur.push(i);
    longest = Math.max(longest, n);
  }
  if (cur.length > 0) out.push(cur);
  return out;
}
