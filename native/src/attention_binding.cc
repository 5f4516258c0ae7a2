// N-API bindings for attention, attentionBackward and attentionCached: check every size and array length, then run the kernels.
#include <napi.h>

#include <cmath>
#include <string>
#include <vector>

#include "attention.h"
#include "kernels_args.h"

namespace whet {
namespace {

// Fills the sizes of `a` from arguments first..first+8 (batch, tq, tk, kvCap, hq, hkv, dim, scale,
// causal) and checks that they describe a valid attention.
void read_sizes(Args& p, size_t first, AttnArgs& a) {
  a.B = p.size(first, "batch");
  a.Tq = p.size(first + 1, "tq");
  a.Tk = p.size(first + 2, "tk");
  a.kvCap = p.size(first + 3, "kvCap");
  a.Hq = p.size(first + 4, "hq");
  a.Hkv = p.size(first + 5, "hkv");
  a.D = p.size(first + 6, "dim");
  a.scale = static_cast<float>(p.finite(first + 7, "scale"));
  a.causal = p.flag(first + 8, "causal");
  if (!p.ok()) return;
  if (a.Hq < 1 || a.Hkv < 1 || a.Hq % a.Hkv != 0)
    p.range_fail("hq (" + std::to_string(a.Hq) + ") must be a positive multiple of hkv (" + std::to_string(a.Hkv) + ")");
  else if (a.D < 1)
    p.range_fail("dim must be at least 1");
  else if (a.Tk < 1)
    p.range_fail("tk must be at least 1");
  else if (a.kvCap < a.Tk)
    p.range_fail("tk (" + std::to_string(a.Tk) + ") exceeds kvCap (" + std::to_string(a.kvCap) + ")");
  else if (a.causal && a.Tq > a.Tk)
    p.range_fail("causal with tq (" + std::to_string(a.Tq) + ") > tk (" + std::to_string(a.Tk) + ")");
}

double q_elems(const AttnArgs& a) { return static_cast<double>(a.B) * a.Tq * a.Hq * a.D; }
double kv_elems(const AttnArgs& a) { return static_cast<double>(a.B) * a.kvCap * a.Hkv * a.D; }
double lse_elems(const AttnArgs& a) { return static_cast<double>(a.B) * a.Hq * a.Tq; }

const int32_t* read_segments(Args& p, size_t i, const AttnArgs& a) {
  const Arr<int32_t> seg = p.optional_i32(i, "segments");
  if (seg.p != nullptr) p.need(seg, a.B * a.Tq, "segments");
  if (seg.p != nullptr && a.Tq != a.Tk)
    p.range_fail("segments need tq == tk (got " + std::to_string(a.Tq) + ", " + std::to_string(a.Tk) + ")");
  return seg.p;
}

// A Float32Array of at least `need` elements.
float* f32_of(Args& p, size_t i, const char* name, double need) {
  const Arr<float> x = p.f32(i, name);
  p.need(x, static_cast<int64_t>(need), name);
  return x.p;
}

// q, k, v, o, lse at arguments 0..4: what forward writes and backward reads.
void read_qkvo_lse(Args& p, AttnArgs& a) {
  a.q = f32_of(p, 0, "q", q_elems(a));
  a.k = f32_of(p, 1, "k", kv_elems(a));
  a.v = f32_of(p, 2, "v", kv_elems(a));
  a.o = f32_of(p, 3, "o", q_elems(a));
  a.lse = f32_of(p, 4, "lse", lse_elems(a));
}

// attention(q, k, v, o, lse, segments|null, batch, tq, tk, kvCap, hq, hkv, dim, scale, causal)
Napi::Value Attention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args p(info, "attention");
  if (info.Length() != 15) {
    p.fail("expected 15 arguments");
    return env.Undefined();
  }
  AttnArgs a{};
  read_sizes(p, 6, a);
  read_qkvo_lse(p, a);
  a.seg = read_segments(p, 5, a);
  if (!p.ok()) return env.Undefined();
  if (!attention_forward(a)) Napi::Error::New(env, "attention: out of memory for scratch").ThrowAsJavaScriptException();
  return env.Undefined();
}

// attentionBackward(q, k, v, o, lse, go, gq, gk, gv, segments|null, batch, tq, tk, kvCap, hq, hkv, dim, scale, causal)
Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args p(info, "attentionBackward");
  if (info.Length() != 19) {
    p.fail("expected 19 arguments");
    return env.Undefined();
  }
  AttnArgs a{};
  read_sizes(p, 10, a);
  read_qkvo_lse(p, a);
  a.go = f32_of(p, 5, "go", q_elems(a));
  a.gq = f32_of(p, 6, "gq", q_elems(a));
  a.gk = f32_of(p, 7, "gk", kv_elems(a));
  a.gv = f32_of(p, 8, "gv", kv_elems(a));
  a.seg = read_segments(p, 9, a);
  if (!p.ok()) return env.Undefined();
  if (!attention_backward(a))
    Napi::Error::New(env, "attentionBackward: out of memory for scratch").ThrowAsJavaScriptException();
  return env.Undefined();
}

// attentionCached(q, newK, newV, ks, vs, o, lengths, batch, tq, hq, hkv, dim, scale): ks and vs are arrays
// of one Float32Array per sequence (its cache, capacity × hkv × dim); see CachedAttnArgs.
Napi::Value AttentionCached(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args p(info, "attentionCached");
  if (info.Length() != 13) {
    p.fail("expected 13 arguments");
    return env.Undefined();
  }
  CachedAttnArgs a{};
  a.B = p.size(7, "batch");
  a.Tq = p.size(8, "tq");
  a.Hq = p.size(9, "hq");
  a.Hkv = p.size(10, "hkv");
  a.D = p.size(11, "dim");
  a.scale = static_cast<float>(p.finite(12, "scale"));
  if (!p.ok()) return env.Undefined();
  if (a.Hq < 1 || a.Hkv < 1 || a.Hq % a.Hkv != 0 || a.D < 1 || a.Tq < 1) {
    p.range_fail("hq must be a positive multiple of hkv, and dim and tq at least 1");
    return env.Undefined();
  }
  const double rows = static_cast<double>(a.B) * a.Tq;
  a.q = f32_of(p, 0, "q", rows * a.Hq * a.D);
  a.new_k = f32_of(p, 1, "newK", rows * a.Hkv * a.D);
  a.new_v = f32_of(p, 2, "newV", rows * a.Hkv * a.D);
  a.o = f32_of(p, 5, "o", rows * a.Hq * a.D);
  const Arr<int32_t> len = p.i32(6, "lengths");
  p.need(len, a.B, "lengths");
  if (p.ok() && (p.array_length(3, "ks") != a.B || p.array_length(4, "vs") != a.B))
    p.fail("ks and vs must hold one Float32Array per sequence");
  if (!p.ok()) return env.Undefined();
  a.len = len.p;
  std::vector<float*> kp(a.B), vp(a.B);
  std::vector<int64_t> cap(a.B);
  const int64_t per_pos = a.Hkv * a.D;
  for (uint32_t b = 0; b < a.B; b++) {
    const Arr<float> k = p.f32_element(3, b, "ks"), v = p.f32_element(4, b, "vs");
    if (!p.ok()) return env.Undefined();
    cap[b] = k.len / per_pos;
    if (v.len != k.len || a.len[b] < 0 || a.len[b] + a.Tq > cap[b]) {
      p.range_fail("sequence " + std::to_string(b) + ": " + std::to_string(a.len[b]) + " stored + " +
                   std::to_string(a.Tq) + " new positions exceed its cache of " + std::to_string(cap[b]));
      return env.Undefined();
    }
    kp[b] = k.p;
    vp[b] = v.p;
  }
  a.k = kp.data();
  a.v = vp.data();
  a.cap = cap.data();
  if (!attention_cached(a)) Napi::Error::New(env, "attentionCached: out of memory for scratch").ThrowAsJavaScriptException();
  return env.Undefined();
}

}  // namespace

void RegisterAttention(Napi::Env env, Napi::Object exports) {
  exports.Set("attentionCached", Napi::Function::New(env, AttentionCached));
  exports.Set("attention", Napi::Function::New(env, Attention));
  exports.Set("attentionBackward", Napi::Function::New(env, AttentionBackward));
}

}  // namespace whet
