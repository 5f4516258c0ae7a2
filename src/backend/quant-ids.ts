// ggml's type ids of the quantised dtypes: how the addon is told what a block holds.
import type { QuantDType } from '../tensor/dtype.ts';

export const QUANT_TYPE_IDS: Record<QuantDType, number> = { q4_0: 2, q8_0: 8, q4_k: 12, q6_k: 14 };
