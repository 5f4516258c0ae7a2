// Module: finds its parameters (Tensor fields) and children (Module fields, arrays of modules) by walking its own fields.
import { Tensor } from '../tensor/tensor.ts';

export abstract class Module {
  /** Every tensor field of this module and its children, named by path ('layers.0.attn.wq'). */
  namedTensors(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [key, value] of Object.entries(this)) {
      const name = prefix === '' ? key : `${prefix}.${key}`;
      if (value instanceof Tensor) out.push([name, value]);
      else if (value instanceof Module) out.push(...value.namedTensors(name));
      else if (Array.isArray(value))
        value.forEach((v, i) => {
          if (v instanceof Module) out.push(...v.namedTensors(`${name}.${i}`));
          else if (v instanceof Tensor) out.push([`${name}.${i}`, v]);
        });
    }
    return out;
  }

  /** Trainable parameters (tensors that require gradients). */
  parameters(): Tensor[] {
    return this.namedTensors().map(([, t]) => t).filter((t) => t.requiresGrad);
  }

  /** Frees every tensor the module holds. */
  dispose(): void {
    for (const [, t] of this.namedTensors()) t.dispose();
  }
}
