// The adapters a server holds: PEFT adapters read from disk into numbered slots of the model's MultiLoraLinear
// layers (no copy of the base), at most maxAdapters resident (least recently used evicted, read again on demand),
// counted in use per request so that unloading one lets its running requests finish first.
import { basename } from 'node:path';
import { WhetError } from '../errors.ts';
import { readAdapter, type AdapterFile } from '../adapters/peft.ts';
import { loraScaling } from '../adapters/lora.ts';
import type { MultiLoraLinear } from '../adapters/multi-lora.ts';
import { ServeError, type AdapterInfo, type AdapterRegistry } from './types.ts';

interface Entry {
  path: string;
  rank: number;
  /** Its slot while its weights are in the layers. */
  slot?: number;
  inUse: number;
  lastUsed: number;
  /** Set by unload: no new requests; resolved once none is running and the weights are freed. */
  unloading?: { resolve: () => void; done: Promise<void> };
}

export class ServingAdapters implements AdapterRegistry {
  private readonly entries = new Map<string, Entry>();
  private clock = 0;
  private nextSlot = 0;

  constructor(
    private readonly layers: Map<string, MultiLoraLinear>,
    readonly baseId: string,
    private readonly maxAdapters: number,
  ) {}

  list(): AdapterInfo[] {
    return [...this.entries].filter(([, e]) => e.unloading === undefined).map(([name, e]) => ({ name, path: e.path, rank: e.rank }));
  }

  has(name: string): boolean {
    const e = this.entries.get(name);
    return e !== undefined && e.unloading === undefined;
  }

  /** Adapters whose weights are in the layers now. */
  resident(): string[] {
    return [...this.entries].filter(([, e]) => e.slot !== undefined).map(([name]) => name);
  }

  async load(name: string, path: string): Promise<void> {
    this.add(name, path);
  }

  /** load(), at once: a bad adapter throws its ServeError here. */
  add(name: string, path: string): void {
    if (name === '' || name === this.baseId) throw new ServeError(400, 'invalid_request_error', `'${name}' cannot name an adapter (it is empty or the base model's id)`, 'invalid_lora_name', 'lora_name');
    if (this.entries.has(name)) throw new ServeError(400, 'invalid_request_error', `an adapter named '${name}' is already loaded; unload it first`, 'lora_exists', 'lora_name');
    const file = this.read(path);
    const entry: Entry = { path, rank: Math.max(...file.modules.map((m) => m.r)), inUse: 0, lastUsed: ++this.clock };
    this.entries.set(name, entry);
    this.install(entry, file);
  }

  async unload(name: string): Promise<void> {
    const e = this.entries.get(name);
    if (e === undefined || e.unloading !== undefined) throw new ServeError(404, 'not_found_error', `no adapter named '${name}' is loaded`, 'lora_not_found', 'lora_name');
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    e.unloading = { resolve, done };
    if (e.inUse === 0) this.free(name, e);
    await done;
  }

  /** The slot of a request's adapter, counted in use until release(); reads it again if it was evicted. */
  acquire(name: string): number {
    const e = this.entries.get(name);
    if (e === undefined || e.unloading !== undefined) throw new ServeError(404, 'not_found_error', `The model '${name}' does not exist.`, 'model_not_found', 'model');
    if (e.slot === undefined) this.install(e, this.read(e.path));
    e.inUse++;
    e.lastUsed = ++this.clock;
    return e.slot!;
  }

  release(name: string): void {
    const e = this.entries.get(name);
    if (e === undefined) return;
    e.inUse--;
    if (e.inUse === 0 && e.unloading !== undefined) this.free(name, e);
  }

  /** Frees every adapter's weights. */
  close(): void {
    for (const [name, e] of this.entries) this.free(name, e);
  }

  private read(path: string): AdapterFile {
    try {
      const file = readAdapter(path, (p) => this.layers.get(p)?.base_layer.weight.shape);
      if (file.taskType === 'SEQ_CLS') throw new WhetError(`${basename(path)}: a reward model's adapter (task_type SEQ_CLS) scores text; it cannot be served for generation`);
      return file;
    } catch (e) {
      if (e instanceof WhetError) throw new ServeError(400, 'invalid_request_error', `cannot load the adapter: ${e.message}`, 'invalid_lora', 'lora_path');
      throw e;
    }
  }

  /** Puts an adapter's weights in a free slot, evicting the least recently used idle adapter beyond maxAdapters. */
  private install(entry: Entry, file: AdapterFile): void {
    const residents = [...this.entries.values()].filter((e) => e.slot !== undefined);
    if (residents.length >= this.maxAdapters) {
      const idle = residents.filter((e) => e.inUse === 0).sort((a, b) => a.lastUsed - b.lastUsed)[0];
      if (idle === undefined) throw new ServeError(503, 'server_error', `all ${this.maxAdapters} adapter slots are in use (--max-adapters); retry shortly`, 'adapters_busy');
      this.evict(idle);
    }
    const slot = this.nextSlot++;
    for (const m of file.modules) this.layers.get(m.path)!.install(slot, m.A, m.B, m.r, loraScaling(m.r, m.alpha, file.rsLora));
    entry.slot = slot;
  }

  private evict(entry: Entry): void {
    if (entry.slot === undefined) return;
    for (const layer of this.layers.values()) layer.remove(entry.slot);
    entry.slot = undefined;
  }

  private free(name: string, entry: Entry): void {
    this.evict(entry);
    this.entries.delete(name);
    entry.unloading?.resolve();
  }
}
