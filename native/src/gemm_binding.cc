// Addon function gemm(a, aOffset, strideA, transA, b, bOffset, strideB, transB, c, cOffset, strideC,
// batch, m, n, k, accumulate): MatmulArgs (backend.ts) as positional arguments, bounds-checked.
#include <napi.h>

#include <cstdint>
#include <string>

#include "gemm.h"

namespace whet {

void RegisterProbes(Napi::Env env, Napi::Object exports);

namespace {

constexpr double kMaxIndex = 9007199254740991.0;  // 2^53 - 1: larger counts cannot index a typed array

bool fail(const Napi::CallbackInfo& info, const std::string& msg) {
  Napi::TypeError::New(info.Env(), "gemm: " + msg).ThrowAsJavaScriptException();
  return false;
}

bool read_count(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t* out) {
  if (!info[i].IsNumber()) return fail(info, std::string(name) + " must be a number");
  const double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= 0 && v <= kMaxIndex) || v != static_cast<double>(static_cast<int64_t>(v)))
    return fail(info, std::string(name) + " must be a non-negative integer, got " + std::to_string(v));
  *out = static_cast<int64_t>(v);
  return true;
}

bool read_bool(const Napi::CallbackInfo& info, size_t i, const char* name, bool* out) {
  if (!info[i].IsBoolean()) return fail(info, std::string(name) + " must be a boolean");
  *out = info[i].As<Napi::Boolean>().Value();
  return true;
}

// The typed array's element pointer and length; allow_bf16 also accepts a Uint16Array (bf16 bits).
bool read_array(const Napi::CallbackInfo& info, size_t i, const char* name, bool allow_bf16, void** data,
                int64_t* length, bool* is_bf16) {
  if (!info[i].IsTypedArray()) return fail(info, std::string(name) + " must be a Float32Array");
  Napi::TypedArray arr = info[i].As<Napi::TypedArray>();
  const napi_typedarray_type type = arr.TypedArrayType();
  const bool f32 = type == napi_float32_array, u16 = type == napi_uint16_array;
  if (!f32 && !(allow_bf16 && u16))
    return fail(info, std::string(name) + (allow_bf16 ? " must be a Float32Array or a Uint16Array of bf16 bits"
                                                       : " must be a Float32Array"));
  *data = static_cast<uint8_t*>(arr.ArrayBuffer().Data()) + arr.ByteOffset();
  *length = static_cast<int64_t>(arr.ElementLength());
  if (is_bf16 != nullptr) *is_bf16 = u16;
  return true;
}

// Every element a batch of rows × cols matrices at offset + i·stride touches must lie in [0, length).
bool check_extent(const Napi::CallbackInfo& info, const char* name, int64_t length, int64_t offset, int64_t stride,
                  int64_t batch, int64_t rows, int64_t cols) {
  if (batch == 0 || rows == 0 || cols == 0) return true;
  const __int128 end = static_cast<__int128>(offset) + static_cast<__int128>(batch - 1) * stride +
                       static_cast<__int128>(rows) * cols;
  if (end > length)
    return fail(info, std::string(name) + " is too short: " + std::to_string(length) + " elements, the product reads up to " +
                          std::to_string(static_cast<double>(end)));
  return true;
}

Napi::Value Gemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 16) {
    fail(info, "expected 16 arguments (a, aOffset, strideA, transA, b, bOffset, strideB, transB, c, cOffset, strideC, "
               "batch, m, n, k, accumulate)");
    return env.Undefined();
  }
  void *a, *b, *c;
  int64_t alen, blen, clen, aoff, sa, boff, sb, coff, sc, batch, m, n, k;
  bool ta, tb, acc, b_bf16;
  if (!read_array(info, 0, "a", false, &a, &alen, nullptr) || !read_count(info, 1, "aOffset", &aoff) ||
      !read_count(info, 2, "strideA", &sa) || !read_bool(info, 3, "transA", &ta) ||
      !read_array(info, 4, "b", true, &b, &blen, &b_bf16) || !read_count(info, 5, "bOffset", &boff) ||
      !read_count(info, 6, "strideB", &sb) || !read_bool(info, 7, "transB", &tb) ||
      !read_array(info, 8, "c", false, &c, &clen, nullptr) || !read_count(info, 9, "cOffset", &coff) ||
      !read_count(info, 10, "strideC", &sc) || !read_count(info, 11, "batch", &batch) ||
      !read_count(info, 12, "m", &m) || !read_count(info, 13, "n", &n) || !read_count(info, 14, "k", &k) ||
      !read_bool(info, 15, "accumulate", &acc))
    return env.Undefined();
  if (batch > INT32_MAX || m > INT32_MAX || n > INT32_MAX || k > INT32_MAX) {
    fail(info, "batch, m, n and k must each be below 2^31");
    return env.Undefined();
  }
  const bool c_touched = batch > 0 && m > 0 && n > 0;
  const bool ab_read = c_touched && k > 0;
  if (!check_extent(info, "c", clen, coff, sc, c_touched ? batch : 0, m, n) ||
      !check_extent(info, "a", alen, aoff, sa, ab_read ? batch : 0, m, k) ||
      !check_extent(info, "b", blen, boff, sb, ab_read ? batch : 0, k, n))
    return env.Undefined();
  if (!c_touched) return env.Undefined();
  GemmArgs g;
  g.a = static_cast<const float*>(a) + aoff;
  g.stride_a = sa;
  g.trans_a = ta;
  g.b = b_bf16 ? static_cast<const void*>(static_cast<const uint16_t*>(b) + boff)
               : static_cast<const void*>(static_cast<const float*>(b) + boff);
  g.stride_b = sb;
  g.trans_b = tb;
  g.b_bf16 = b_bf16;
  g.c = static_cast<float*>(c) + coff;
  g.stride_c = sc;
  g.batch = batch;
  g.m = m;
  g.n = n;
  g.k = k;
  g.accumulate = acc;
  gemm(g);
  return env.Undefined();
}

// gemmRoundsA(m, k, transB): whether gemm with bf16 B rounds A to bf16 for this shape (gemm.h).
Napi::Value GemmRoundsA(const Napi::CallbackInfo& info) {
  int64_t m, k;
  bool tb;
  if (info.Length() != 3 || !read_count(info, 0, "m", &m) || !read_count(info, 1, "k", &k) ||
      !read_bool(info, 2, "transB", &tb))
    return info.Env().Undefined();
  return Napi::Boolean::New(info.Env(), gemm_bf16_rounds_a(m, k, tb));
}

}  // namespace

void RegisterGemm(Napi::Env env, Napi::Object exports) {
  exports.Set("gemm", Napi::Function::New(env, Gemm));
  exports.Set("gemmRoundsA", Napi::Function::New(env, GemmRoundsA));
  RegisterProbes(env, exports);
}

}  // namespace whet
