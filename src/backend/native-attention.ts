// Native fused attention (native/src/attention*.cc): forward and backward with grouped-query heads.
import type { Backend } from './backend.ts';
import type { NativeAddon } from './addon.ts';

export function nativeAttention(addon: NativeAddon): Pick<Backend, 'attention' | 'attentionBackward' | 'attentionCached'> {
  return {
    attention(a) {
      addon.attention(a.q, a.k, a.v, a.o, a.lse, a.segments ?? null,
        a.batch, a.tq, a.tk, a.kvCap, a.hq, a.hkv, a.dim, a.scale, a.causal);
    },
    attentionBackward(a) {
      addon.attentionBackward(a.q, a.k, a.v, a.o, a.lse, a.go, a.gq, a.gk, a.gv, a.segments ?? null,
        a.batch, a.tq, a.tk, a.kvCap, a.hq, a.hkv, a.dim, a.scale, a.causal);
    },
    attentionCached(a) {
      addon.attentionCached(a.q, a.newK, a.newV, a.ks, a.vs, a.o, a.lengths, a.batch, a.tq, a.hq, a.hkv, a.dim, a.scale);
    },
  };
}
