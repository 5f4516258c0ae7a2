// The tensor layer's public surface: Tensor, scopes, autograd and every differentiable op.
export { Tensor, tidy, keep, liveTensorCount, sizeOf, contiguousStrides, dropRecomputable, withSavedActivations } from './tensor.ts';
export type { GradNode } from './tensor.ts';
export type { DType } from './dtype.ts';
export { backward } from './autograd.ts';
export { noGrad, isGradEnabled, withGrad } from './grad-mode.ts';
export { Rng } from './random.ts';
export { poolStats, trimPool } from './pool.ts';
export { zeros, ones, full, tensor, randn, uniform } from './ops/create.ts';
export { reshape, permute, transpose, narrow, cat } from './ops/shape.ts';
export { add, sub, mul, div, scale, addScalar, exp, log, neg, sqrt, square, relu, tanh, sigmoid, silu, logSigmoid, minimum, maximum, clamp } from './ops/elementwise.ts';
export { sum, mean } from './ops/reduce.ts';
export { matmul, linear } from './ops/matmul.ts';
export { embedding, rmsnorm, rope, ropeFrequencies, swiglu, softmax, attention } from './ops/layers.ts';
export type { RopeOptions, AttentionOptions } from './ops/layers.ts';
export { crossEntropy, gatherLogProbs, IGNORE_INDEX } from './ops/loss.ts';
export { cast } from './ops/cast.ts';
export { checkpoint } from './checkpoint.ts';
