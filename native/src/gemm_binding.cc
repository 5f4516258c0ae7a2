// Addon function gemm(a, aOffset, strideA, transA, b, bOffset, strideB, transB, c, cOffset, strideC,
// batch, m, n, k, accumulate): MatmulArgs (backend.ts) as positional arguments, bounds-checked.
#include <napi.h>

#include <cstdint>
#include <string>

#include "gemm.h"
#include "kernels_args.h"

namespace whet {

void RegisterProbes(Napi::Env env, Napi::Object exports);

namespace {

// Every element a batch of rows × cols matrices at offset + i·stride touches must lie in [0, length).
void check_extent(Args& p, const char* name, int64_t length, int64_t offset, int64_t stride, int64_t batch,
                  int64_t rows, int64_t cols) {
  if (!p.ok() || batch == 0 || rows == 0 || cols == 0) return;
  const __int128 end = static_cast<__int128>(offset) + static_cast<__int128>(batch - 1) * stride +
                       static_cast<__int128>(rows) * cols;
  if (end > length)
    p.fail(std::string(name) + " is too short: " + std::to_string(length) + " elements, the product reads up to " +
           std::to_string(static_cast<double>(end)));
}

Napi::Value Gemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args p(info, "gemm");
  if (info.Length() != 16) {
    p.fail("expected 16 arguments (a, aOffset, strideA, transA, b, bOffset, strideB, transB, c, cOffset, strideC, "
           "batch, m, n, k, accumulate)");
    return env.Undefined();
  }
  const Arr<float> a = p.f32(0, "a");
  const int64_t aoff = p.integer(1, "aOffset"), sa = p.integer(2, "strideA");
  const bool ta = p.flag(3, "transA");
  const Args::Weights b = p.weights(4, "b");
  const int64_t boff = p.integer(5, "bOffset"), sb = p.integer(6, "strideB");
  const bool tb = p.flag(7, "transB");
  const Arr<float> c = p.f32(8, "c");
  const int64_t coff = p.integer(9, "cOffset"), sc = p.integer(10, "strideC");
  const int64_t batch = p.size(11, "batch"), m = p.size(12, "m"), n = p.size(13, "n"), k = p.size(14, "k");
  const bool acc = p.flag(15, "accumulate");
  const bool c_touched = batch > 0 && m > 0 && n > 0;
  const bool ab_read = c_touched && k > 0;
  check_extent(p, "c", c.len, coff, sc, c_touched ? batch : 0, m, n);
  check_extent(p, "a", a.len, aoff, sa, ab_read ? batch : 0, m, k);
  check_extent(p, "b", b.len(), boff, sb, ab_read ? batch : 0, k, n);
  if (!p.ok() || !c_touched) return env.Undefined();
  const void* bp = b.bf16 ? static_cast<const void*>(b.h.p + boff) : static_cast<const void*>(b.f.p + boff);
  const GemmArgs g{a.p + aoff, sa, ta, bp, sb, tb, b.bf16, c.p + coff, sc, batch, m, n, k, acc};
  gemm(g);
  return env.Undefined();
}

// gemmRoundsA(m, k, transB): whether gemm with bf16 B rounds A to bf16 for this shape (gemm.h).
Napi::Value GemmRoundsA(const Napi::CallbackInfo& info) {
  Args p(info, "gemmRoundsA");
  const int64_t m = p.size(0, "m"), k = p.size(1, "k");
  const bool tb = p.flag(2, "transB");
  if (!p.ok()) return info.Env().Undefined();
  return Napi::Boolean::New(info.Env(), gemm_bf16_rounds_a(m, k, tb));
}

}  // namespace

void RegisterGemm(Napi::Env env, Napi::Object exports) {
  exports.Set("gemm", Napi::Function::New(env, Gemm));
  exports.Set("gemmRoundsA", Napi::Function::New(env, GemmRoundsA));
  RegisterProbes(env, exports);
}

}  // namespace whet
