// Whetstone's library API: the one public entry point.
export * from './tensor/index.ts';
export type { Backend } from './backend/backend.ts';
export { getBackend, setBackend, nativeBackend, referenceBackend } from './backend/registry.ts';
export { AdamW } from './optim/adamw.ts';
export type { AdamWOptions } from './optim/adamw.ts';
export { clipGradNorm, gradNorm } from './optim/clip.ts';
export { Module } from './nn/module.ts';
export { Linear, Embedding, RMSNorm } from './nn/layers.ts';
