// Serving's LoRA layer: one frozen base Linear and any number of adapters held as data in numbered slots. Each
// row of the input carries its slot (or none, -1) through the model's shared AdapterRouting. A batch on one adapter
// runs training's LoraLinear branch (addLoraBranch: x·Aᵀ → ·s → ·Bᵀ); a batch mixing adapters applies each group's
// A and B to its own rows in one native call (loraGroups), so rows never mix and per-call overhead stays flat.
import { Linear } from '../nn/layers.ts';
import { Module } from '../nn/module.ts';
import { keep, Tensor } from '../tensor/tensor.ts';
import { addBias, addLoraBranch } from '../tensor/ops/lora.ts';
import { gemm } from '../tensor/ops/matmul.ts';
import { walkModules } from './walk.ts';
import { SCORE_HEAD } from './apply.ts';

/** Which adapter slot each input row of the next forward uses: one object shared by every layer of a model. */
export class AdapterRouting {
  /** Row indices per slot (rows of slot -1, the base alone, are left out). */
  groups: { slot: number; rows: Int32Array; all: boolean }[] = [];

  /** Sets the slot of each row (B·T rows, batch-major) for the forwards that follow. */
  route(rowSlots: ArrayLike<number>): void {
    const bySlot = new Map<number, number[]>();
    for (let i = 0; i < rowSlots.length; i++) {
      const slot = rowSlots[i]!;
      if (slot < 0) continue;
      let rows = bySlot.get(slot);
      if (rows === undefined) bySlot.set(slot, (rows = []));
      rows.push(i);
    }
    this.groups = [...bySlot].map(([slot, rows]) => ({ slot, rows: Int32Array.from(rows), all: rows.length === rowSlots.length }));
  }
}

interface SlotWeights {
  a: Tensor; // (r, in)
  b: Tensor; // (out, r)
  scale: number;
}

export class MultiLoraLinear extends Module {
  base_layer: Linear; // weight (out, in), frozen
  private readonly slots = new Map<number, SlotWeights>();

  constructor(base: Linear, private readonly routing: AdapterRouting) {
    super();
    this.base_layer = base;
  }

  /** Puts an adapter's A (r, in) and B (out, r) with its scale in a slot. */
  install(slot: number, a: Float32Array, b: Float32Array, r: number, scale: number): void {
    const [out, inF] = this.base_layer.weight.shape as [number, number];
    this.remove(slot);
    this.slots.set(slot, { a: keep(Tensor.fromArray(a, [r, inF])), b: keep(Tensor.fromArray(b, [out, r])), scale });
  }

  remove(slot: number): void {
    const w = this.slots.get(slot);
    if (w === undefined) return;
    w.a.dispose();
    w.b.dispose();
    this.slots.delete(slot);
  }

  /** x (..., in) → (..., out): the base for every row, plus each row's own adapter. Inference only. */
  forward(x: Tensor): Tensor {
    const weight = this.base_layer.weight;
    const [outF, inF] = weight.shape as [number, number];
    const rows = x.size / inF;
    const y = gemm({ t: x, trans: false }, { t: weight, trans: true }, 1, rows, inF, outF, [...x.shape.slice(0, -1), outF]); // (rows, out)
    const groups = this.routing.groups.filter((g) => this.slots.has(g.slot)); // adapters that target this layer
    if (groups.length === 1 && groups[0]!.all) {
      // One adapter on every row: training's LoraLinear computation exactly (whet generate --adapter's text).
      const w = this.slots.get(groups[0]!.slot)!;
      addLoraBranch(x, w.a, w.b, w.scale, y).dispose();
    } else if (groups.length > 0) {
      // Rows of several adapters: one native call applies each group's own A and B to its rows.
      const ws = groups.map((g) => this.slots.get(g.slot)!);
      const offsets = new Int32Array(groups.length + 1);
      groups.forEach((g, i) => (offsets[i + 1] = offsets[i]! + g.rows.length));
      const picked = new Int32Array(offsets[groups.length]!);
      groups.forEach((g, i) => picked.set(g.rows, offsets[i]!));
      y.backend.loraGroups(x.f as Float32Array, y.f as Float32Array, inF, outF, picked, offsets, ws.map((w) => w.a.f as Float32Array), ws.map((w) => w.b.f as Float32Array), Int32Array.from(ws, (w) => w.a.dim(0)), Float32Array.from(ws, (w) => w.scale));
    }
    if (this.base_layer.bias !== undefined) addBias(y, this.base_layer.bias);
    return y;
  }
}

/** Replaces every Linear of the model but its heads with a MultiLoraLinear on one routing; returns them by path. */
export function wrapForAdapters(model: Module, routing: AdapterRouting): Map<string, MultiLoraLinear> {
  const layers = new Map<string, MultiLoraLinear>();
  walkModules(model, ({ path, module, replace }) => {
    if (!(module instanceof Linear)) return true;
    if (path === 'lm_head' || path === SCORE_HEAD) return false;
    const wrapped = new MultiLoraLinear(module, routing);
    replace(wrapped);
    layers.set(path, wrapped);
    return false;
  });
  return layers;
}
