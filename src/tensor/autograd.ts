// Reverse-mode autograd: walks the tape from a scalar back to the leaves, accumulating into `.grad`.
import { contiguousStrides, keep, Tensor } from './tensor.ts';
import { noGrad } from './grad-mode.ts';

/** Tensors reachable from root through autograd nodes, inputs before outputs. */
function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Iterative DFS: a deep model's tape would overflow the JS stack with recursion.
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const [t, i] = top;
    const inputs = t.node?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const next = inputs[i]!;
      if (next.requiresGrad && !seen.has(next)) {
        seen.add(next);
        stack.push([next, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order;
}

/** Adds g into acc in place (same shape). */
export function accumulateInto(acc: Tensor, g: Tensor): void {
  const shape = acc.shape;
  if (g.size !== acc.size) throw new Error(`gradient shape [${g.shape.join(', ')}] does not match [${shape.join(', ')}]`);
  acc.backend.binary('add', acc.buffer as Float32Array, acc.offset, contiguousStrides(shape), g.buffer as Float32Array, g.offset, contiguousStrides(shape), acc.f, shape);
}

/**
 * Backpropagates from root (a scalar unless gradOutput is given). Leaves that require gradients get
 * them added to `.grad` (created on first use, kept outside scopes); intermediate gradients are
 * disposed as soon as they have been used.
 */
export function backward(root: Tensor, gradOutput?: Tensor): void {
  if (!root.requiresGrad) throw new Error('backward() on a tensor that does not require gradients');
  if (gradOutput === undefined && root.size !== 1) throw new Error(`backward() needs a scalar, got shape [${root.shape.join(', ')}]`);
  noGrad(() => {
    const grads = new Map<Tensor, Tensor>();
    let seed = gradOutput;
    if (seed === undefined) {
      seed = Tensor.empty(root.shape, root.dtype);
      seed.backend.fill(seed.f, 0, 1, 1);
    }
    grads.set(root, seed);
    const order = topoOrder(root);
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i]!;
      const g = grads.get(t);
      if (g === undefined) continue;
      grads.delete(t);
      if (t.node === null) {
        if (t.grad === null) t.grad = keep(g === gradOutput ? clone(g) : g);
        else {
          accumulateInto(t.grad, g);
          if (g !== gradOutput) g.dispose();
        }
        continue;
      }
      const inputGrads = t.node.backward(g);
      // Every reader of t has had its backward now: a recomputed activation can leave memory again.
      t.redropAfterBackward();
      // A rule may hand g itself on (add, reshape): the first such use takes g over, later ones copy it.
      let gTaken = g === gradOutput;
      t.node.inputs.forEach((input, j) => {
        let gi = inputGrads[j];
        if (gi === null || gi === undefined) return;
        if (!input.requiresGrad) {
          if (gi !== g) gi.dispose();
          return;
        }
        if (gi === g) {
          if (gTaken) gi = clone(g);
          gTaken = true;
        }
        const prev = grads.get(input);
        if (prev === undefined) grads.set(input, gi);
        else {
          accumulateInto(prev, gi);
          gi.dispose();
        }
      });
      if (!gTaken) g.dispose();
    }
  });
}

function clone(t: Tensor): Tensor {
  const out = Tensor.empty(t.shape, t.dtype);
  out.f.set(t.f);
  return out;
}
