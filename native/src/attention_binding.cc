// N-API bindings for attention and attentionBackward: check every size and array length, then run the kernels.
#include <napi.h>

#include <cmath>
#include <string>
#include <vector>

#include "attention.h"

namespace whet {
namespace {

// Reads positional arguments; the first problem throws a JS error and later reads return dummies.
class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* op) : info_(info), op_(op) {}

  bool failed() const { return failed_; }

  void type_error(const std::string& msg) { fail(msg, false); }
  void range_error(const std::string& msg) { fail(msg, true); }

  // A non-negative integer argument below 2^31.
  int64_t size(size_t i, const char* name) {
    if (failed_) return 0;
    const Napi::Value v = info_[i];
    const double x = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(x >= 0 && x < 2147483648.0 && std::floor(x) == x)) {
      type_error(std::string(name) + " must be a non-negative integer");
      return 0;
    }
    return static_cast<int64_t>(x);
  }

  double number(size_t i, const char* name) {
    if (failed_) return 0;
    const Napi::Value v = info_[i];
    const double x = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
    if (!std::isfinite(x)) type_error(std::string(name) + " must be a finite number");
    return x;
  }

  bool boolean(size_t i, const char* name) {
    if (failed_) return false;
    if (!info_[i].IsBoolean()) {
      type_error(std::string(name) + " must be a boolean");
      return false;
    }
    return info_[i].As<Napi::Boolean>().Value();
  }

  // A Float32Array of at least `need` elements.
  float* f32(size_t i, const char* name, double need) {
    if (failed_) return nullptr;
    const Napi::Value v = info_[i];
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
      type_error(std::string(name) + " must be a Float32Array");
      return nullptr;
    }
    Napi::Float32Array arr = v.As<Napi::Float32Array>();
    if (static_cast<double>(arr.ElementLength()) < need) {
      type_error(std::string(name) + " has " + std::to_string(arr.ElementLength()) + " elements, needs " +
                 std::to_string(static_cast<int64_t>(need)));
      return nullptr;
    }
    return arr.Data();
  }

  // Null/undefined, or an Int32Array of at least `need` elements.
  const int32_t* optional_i32(size_t i, const char* name, double need) {
    if (failed_) return nullptr;
    const Napi::Value v = info_[i];
    if (v.IsNull() || v.IsUndefined()) return nullptr;
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
      type_error(std::string(name) + " must be an Int32Array or null");
      return nullptr;
    }
    Napi::Int32Array arr = v.As<Napi::Int32Array>();
    if (static_cast<double>(arr.ElementLength()) < need) {
      type_error(std::string(name) + " has " + std::to_string(arr.ElementLength()) + " elements, needs " +
                 std::to_string(static_cast<int64_t>(need)));
      return nullptr;
    }
    return arr.Data();
  }

 private:
  void fail(const std::string& msg, bool range) {
    if (failed_) return;
    failed_ = true;
    const std::string text = std::string(op_) + ": " + msg;
    if (range)
      Napi::RangeError::New(info_.Env(), text).ThrowAsJavaScriptException();
    else
      Napi::TypeError::New(info_.Env(), text).ThrowAsJavaScriptException();
  }

  const Napi::CallbackInfo& info_;
  const char* op_;
  bool failed_ = false;
};

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
  a.scale = static_cast<float>(p.number(first + 7, "scale"));
  a.causal = p.boolean(first + 8, "causal");
  if (p.failed()) return;
  if (a.Hq < 1 || a.Hkv < 1 || a.Hq % a.Hkv != 0)
    p.range_error("hq (" + std::to_string(a.Hq) + ") must be a positive multiple of hkv (" + std::to_string(a.Hkv) + ")");
  else if (a.D < 1)
    p.range_error("dim must be at least 1");
  else if (a.Tk < 1)
    p.range_error("tk must be at least 1");
  else if (a.kvCap < a.Tk)
    p.range_error("tk (" + std::to_string(a.Tk) + ") exceeds kvCap (" + std::to_string(a.kvCap) + ")");
  else if (a.causal && a.Tq > a.Tk)
    p.range_error("causal with tq (" + std::to_string(a.Tq) + ") > tk (" + std::to_string(a.Tk) + ")");
}

double q_elems(const AttnArgs& a) { return static_cast<double>(a.B) * a.Tq * a.Hq * a.D; }
double kv_elems(const AttnArgs& a) { return static_cast<double>(a.B) * a.kvCap * a.Hkv * a.D; }
double lse_elems(const AttnArgs& a) { return static_cast<double>(a.B) * a.Hq * a.Tq; }

const int32_t* read_segments(Args& p, size_t i, const AttnArgs& a) {
  const int32_t* seg = p.optional_i32(i, "segments", static_cast<double>(a.B) * a.Tq);
  if (seg != nullptr && a.Tq != a.Tk)
    p.range_error("segments need tq == tk (got " + std::to_string(a.Tq) + ", " + std::to_string(a.Tk) + ")");
  return seg;
}

// q, k, v, o, lse at arguments 0..4: what forward writes and backward reads.
void read_qkvo_lse(Args& p, AttnArgs& a) {
  a.q = p.f32(0, "q", q_elems(a));
  a.k = p.f32(1, "k", kv_elems(a));
  a.v = p.f32(2, "v", kv_elems(a));
  a.o = p.f32(3, "o", q_elems(a));
  a.lse = p.f32(4, "lse", lse_elems(a));
}

// attention(q, k, v, o, lse, segments|null, batch, tq, tk, kvCap, hq, hkv, dim, scale, causal)
Napi::Value Attention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 15) {
    Napi::TypeError::New(env, "attention: expected 15 arguments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Args p(info, "attention");
  AttnArgs a{};
  read_sizes(p, 6, a);
  read_qkvo_lse(p, a);
  a.seg = read_segments(p, 5, a);
  if (p.failed()) return env.Undefined();
  if (!attention_forward(a)) Napi::Error::New(env, "attention: out of memory for scratch").ThrowAsJavaScriptException();
  return env.Undefined();
}

// attentionBackward(q, k, v, o, lse, go, gq, gk, gv, segments|null, batch, tq, tk, kvCap, hq, hkv, dim, scale, causal)
Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 19) {
    Napi::TypeError::New(env, "attentionBackward: expected 19 arguments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Args p(info, "attentionBackward");
  AttnArgs a{};
  read_sizes(p, 10, a);
  read_qkvo_lse(p, a);
  a.go = p.f32(5, "go", q_elems(a));
  a.gq = p.f32(6, "gq", q_elems(a));
  a.gk = p.f32(7, "gk", kv_elems(a));
  a.gv = p.f32(8, "gv", kv_elems(a));
  a.seg = read_segments(p, 9, a);
  if (p.failed()) return env.Undefined();
  if (!attention_backward(a))
    Napi::Error::New(env, "attentionBackward: out of memory for scratch").ThrowAsJavaScriptException();
  return env.Undefined();
}

// attentionCached(q, newK, newV, ks, vs, o, lengths, batch, tq, hq, hkv, dim, scale): ks and vs are arrays
// of one Float32Array per sequence (its cache, capacity × hkv × dim); see CachedAttnArgs.
Napi::Value AttentionCached(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 13) {
    Napi::TypeError::New(env, "attentionCached: expected 13 arguments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Args p(info, "attentionCached");
  CachedAttnArgs a{};
  a.B = p.size(7, "batch");
  a.Tq = p.size(8, "tq");
  a.Hq = p.size(9, "hq");
  a.Hkv = p.size(10, "hkv");
  a.D = p.size(11, "dim");
  a.scale = static_cast<float>(p.number(12, "scale"));
  if (p.failed()) return env.Undefined();
  if (a.Hq < 1 || a.Hkv < 1 || a.Hq % a.Hkv != 0 || a.D < 1 || a.Tq < 1) {
    p.range_error("hq must be a positive multiple of hkv, and dim and tq at least 1");
    return env.Undefined();
  }
  const double rows = static_cast<double>(a.B) * a.Tq;
  a.q = p.f32(0, "q", rows * a.Hq * a.D);
  a.new_k = p.f32(1, "newK", rows * a.Hkv * a.D);
  a.new_v = p.f32(2, "newV", rows * a.Hkv * a.D);
  a.o = p.f32(5, "o", rows * a.Hq * a.D);
  a.len = p.optional_i32(6, "lengths", static_cast<double>(a.B));
  if (!p.failed() && a.len == nullptr) p.type_error("lengths must be an Int32Array");
  if (!info[3].IsArray() || !info[4].IsArray() || info[3].As<Napi::Array>().Length() != a.B ||
      info[4].As<Napi::Array>().Length() != a.B)
    p.type_error("ks and vs must be arrays of one Float32Array per sequence");
  if (p.failed()) return env.Undefined();
  const Napi::Array ks = info[3].As<Napi::Array>(), vs = info[4].As<Napi::Array>();
  std::vector<float*> kp(a.B), vp(a.B);
  std::vector<int64_t> cap(a.B);
  const int64_t per_pos = a.Hkv * a.D;
  for (uint32_t b = 0; b < a.B; b++) {
    const Napi::Value kv[2] = {ks[b], vs[b]};
    for (int j = 0; j < 2; j++)
      if (!kv[j].IsTypedArray() || kv[j].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
        p.type_error("ks and vs must hold Float32Arrays");
        return env.Undefined();
      }
    Napi::Float32Array k = kv[0].As<Napi::Float32Array>(), v = kv[1].As<Napi::Float32Array>();
    cap[b] = static_cast<int64_t>(k.ElementLength()) / per_pos;
    if (v.ElementLength() != k.ElementLength() || a.len[b] < 0 || a.len[b] + a.Tq > cap[b]) {
      p.range_error("sequence " + std::to_string(b) + ": " + std::to_string(a.len[b]) + " stored + " +
                    std::to_string(a.Tq) + " new positions exceed its cache of " + std::to_string(cap[b]));
      return env.Undefined();
    }
    kp[b] = k.Data();
    vp[b] = v.Data();
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
