// The reference backend: every Backend op in plain, clear TypeScript (the executable spec, and the fallback without the addon).
import type { Backend } from './backend.ts';
import { referenceElementwise } from './reference-elementwise.ts';
import { referenceLayers } from './reference-layers.ts';
import { referenceAttention, referenceAttentionBackward, referenceAttentionCached } from './reference-attention.ts';
import { referenceQuant } from './reference-quant.ts';

export const referenceBackend: Backend = {
  name: 'reference',
  ...referenceElementwise,
  ...referenceLayers,
  ...referenceQuant,
  attention: referenceAttention,
  attentionBackward: referenceAttentionBackward,
  attentionCached: referenceAttentionCached,
};
