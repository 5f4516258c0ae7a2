// An endless, seeded, resumable batch iterator: reshuffles every epoch, and its state (epoch, index, RNG) restores the exact same order.
import { WhetError } from '../errors.ts';
import { Rng } from '../tensor/random.ts';

export interface IteratorState {
  epoch: number;
  /** Items of this epoch's order already handed out. */
  index: number;
  /** The generator as it was before this epoch's shuffle, so restore() can redo it. */
  rngState: number[];
}

export interface DataIteratorOptions<T, B> {
  batchSize: number;
  seed: number;
  /** Default true; false keeps file order every epoch. */
  shuffle?: boolean;
  /** Drop an epoch's last, smaller batch (default false: it is yielded as is). */
  dropLast?: boolean;
  /** Turns the items of a batch into what the trainer consumes (e.g. padBatch). */
  collate: (items: T[]) => B;
}

export class DataIterator<T, B> {
  private readonly rng: Rng;
  private order: number[] = [];
  private epochRng: number[] = [];
  private epochNo = 0;
  private index = 0;

  constructor(private readonly items: readonly T[], private readonly opts: DataIteratorOptions<T, B>) {
    if (items.length === 0) throw new WhetError('no examples to iterate over');
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new WhetError(`batch size must be a positive integer, got ${opts.batchSize}`);
    if (opts.dropLast === true && opts.batchSize > items.length) throw new WhetError(`batch size ${opts.batchSize} exceeds the ${items.length} examples`);
    this.rng = new Rng(opts.seed);
    this.startEpoch(0);
  }

  private startEpoch(epoch: number): void {
    this.epochNo = epoch;
    this.index = 0;
    this.epochRng = this.rng.getState();
    const order = this.items.map((_, i) => i);
    if (this.opts.shuffle !== false) {
      for (let i = order.length - 1; i > 0; i--) {
        const j = this.rng.int(i + 1);
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
    }
    this.order = order;
  }

  /** The epoch the next batch comes from (0-based). */
  get epoch(): number {
    return this.epochNo;
  }

  /** The next batch; epochs roll over without end. */
  next(): B {
    const n = this.order.length;
    const left = n - this.index;
    if (left === 0 || (this.opts.dropLast === true && left < this.opts.batchSize)) this.startEpoch(this.epochNo + 1);
    const take = Math.min(this.opts.batchSize, n - this.index);
    const batch = this.order.slice(this.index, this.index + take).map((i) => this.items[i]!);
    this.index += take;
    return this.opts.collate(batch);
  }

  state(): IteratorState {
    return { epoch: this.epochNo, index: this.index, rngState: [...this.epochRng] };
  }

  /** Puts the iterator where state() was taken (on the same items and options). */
  restore(state: unknown): void {
    const s = state as Partial<IteratorState> | null;
    const ok =
      s !== null && typeof s === 'object' && Number.isInteger(s.epoch) && Number.isInteger(s.index) && s.index! >= 0 && s.index! <= this.items.length &&
      Array.isArray(s.rngState) && s.rngState.length === 4 && s.rngState.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32);
    if (!ok) throw new WhetError('data iterator state is malformed (expected {epoch, index, rngState[4]})');
    this.rng.setState(s.rngState!);
    this.startEpoch(s.epoch!);
    this.index = s.index!;
  }
}
