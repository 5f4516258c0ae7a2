// Gradient checkpointing: run a block without keeping its activations, recompute them during backward.
import { backward } from './autograd.ts';
import { isGradEnabled, noGrad, withGrad } from './grad-mode.ts';
import { record, Tensor, tidy } from './tensor.ts';
import type { Rng } from './random.ts';

/**
 * out = fn(inputs), keeping only the inputs for backward: the block's intermediate tensors are freed at
 * once and rebuilt when the gradient arrives (trading one extra forward for memory). Parameters the
 * block closes over receive their gradients during that recomputation. Random generators used inside
 * (dropout) are rewound so the recomputation draws the same numbers.
 */
export function checkpoint(fn: (inputs: Tensor[]) => Tensor, inputs: Tensor[], rngs: Rng[] = []): Tensor {
  if (!isGradEnabled()) return fn(inputs);
  const rngStates = rngs.map((r) => r.getState());
  const out = noGrad(() => tidy(() => fn(inputs)));
  const after = rngs.map((r) => r.getState());
  return record(out, 'checkpoint', inputs, (g) => {
    // Detached stand-ins for the inputs: leaves whose .grad collects the input gradients.
    const leaves = inputs.map((x) => {
      const leaf = x.view(x.shape);
      leaf.requiresGrad = x.requiresGrad;
      return leaf;
    });
    rngs.forEach((r, i) => r.setState(rngStates[i]!));
    tidy(() => {
      const y = withGrad(() => fn(leaves));
      if (y.requiresGrad) backward(y, g);
    });
    rngs.forEach((r, i) => r.setState(after[i]!));
    return leaves.map((leaf) => {
      const gi = leaf.grad;
      leaf.grad = null;
      leaf.dispose();
      return gi;
    });
  });
}
