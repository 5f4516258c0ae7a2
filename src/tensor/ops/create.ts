// Tensor constructors: from values, constant fills, seeded random initialisation.
import type { DType } from '../dtype.ts';
import { Tensor } from '../tensor.ts';
import type { Rng } from '../random.ts';

export function zeros(shape: readonly number[], dtype: DType = 'f32'): Tensor {
  return Tensor.empty(shape, dtype, true);
}

export function full(shape: readonly number[], value: number, dtype: DType = 'f32'): Tensor {
  const t = Tensor.empty(shape, dtype);
  t.backend.fill(t.f, 0, t.size, value);
  return t;
}

export function ones(shape: readonly number[], dtype: DType = 'f32'): Tensor {
  return full(shape, 1, dtype);
}

/** A tensor holding a copy of values (row-major). */
export function tensor(values: ArrayLike<number>, shape: readonly number[] = [values.length], dtype: DType = 'f32'): Tensor {
  const t = Tensor.empty(shape, dtype === 'bf16' ? 'f32' : dtype);
  if (values.length !== t.size) throw new Error(`${values.length} values do not fit shape [${shape.join(', ')}]`);
  t.f.set(values);
  if (dtype !== 'bf16') return t;
  const b = Tensor.empty(shape, 'bf16');
  t.backend.castToBf16(t.f, b.data as Uint16Array, t.size);
  t.dispose();
  return b;
}

/** Normal(0, std) entries from rng. */
export function randn(shape: readonly number[], rng: Rng, std = 1, dtype: DType = 'f32'): Tensor {
  const t = Tensor.empty(shape, dtype);
  const d = t.f;
  for (let i = 0; i < d.length; i++) d[i] = rng.normal() * std;
  return t;
}

/** Uniform [lo, hi) entries from rng. */
export function uniform(shape: readonly number[], rng: Rng, lo: number, hi: number, dtype: DType = 'f32'): Tensor {
  const t = Tensor.empty(shape, dtype);
  const d = t.f;
  for (let i = 0; i < d.length; i++) d[i] = lo + (hi - lo) * rng.uniform();
  return t;
}
