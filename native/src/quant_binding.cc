// Addon functions over GGUF-quantised weights, every argument and byte length checked:
//   qgemm(a, aOffset, w, wType, transW, c, cOffset, m, n, k, accumulate)
//     C(m×n) (+)= A(m×k)·Wᵀ (transW: W is n rows of k) or A·W (W is k rows of n); W quantised, A and C dense.
//   dequantRows(w, wType, rowLength, rows, out): out row i = row rows[i] of W (rowLength columns) as floats.
#include <napi.h>

#include <string>

#include "kernels_args.h"
#include "quant.h"

namespace whet {
namespace {

constexpr int64_t kMaxDim = INT32_MAX;

// The type's block shape, or a TypeError naming the known types.
bool read_type(Args& a, size_t i, int64_t* elems, int64_t* bytes) {
  const int64_t type = a.integer(i, "wType");
  if (a.ok() && !quant_block(static_cast<int>(type), elems, bytes))
    a.fail("unknown wType " + std::to_string(type) + " (expected a ggml type id: 2 Q4_0, 8 Q8_0, 12 Q4_K, 14 Q6_K)");
  return a.ok();
}

Napi::Value QGemm(const Napi::CallbackInfo& info) {
  Args a(info, "qgemm");
  Napi::Env env = info.Env();
  if (info.Length() != 11) {
    a.fail("expected 11 arguments (a, aOffset, w, wType, transW, c, cOffset, m, n, k, accumulate)");
    return env.Undefined();
  }
  Arr<float> A = a.f32(0, "a");
  const int64_t aoff = a.integer(1, "aOffset");
  Arr<uint8_t> W = a.u8(2, "w");
  int64_t be = 0, bb = 0;
  read_type(a, 3, &be, &bb);
  const bool trans_w = a.flag(4, "transW");
  Arr<float> C = a.f32(5, "c");
  const int64_t coff = a.integer(6, "cOffset");
  const int64_t m = a.integer(7, "m"), n = a.integer(8, "n"), k = a.integer(9, "k");
  const bool acc = a.flag(10, "accumulate");
  if (!a.ok()) return env.Undefined();
  if (m > kMaxDim || n > kMaxDim || k > kMaxDim) {
    a.fail("m, n and k must each be below 2^31");
    return env.Undefined();
  }
  const int type = static_cast<int>(info[3].As<Napi::Number>().Int32Value());
  // W's rows run along k when transposed (n rows of k), along n otherwise (k rows of n).
  const int64_t row_len = trans_w ? k : n, rows = trans_w ? n : k;
  const char* row_name = trans_w ? "k" : "n";
  if (row_len % be != 0) {
    a.fail(std::string(row_name) + " (" + std::to_string(row_len) + ") must be a multiple of the " + quant_name(type) +
           " block (" + std::to_string(be) + "): W's rows are " + row_name + " long");
    return env.Undefined();
  }
  const int64_t want = rows * (row_len / be) * bb;
  if (W.len != want) {
    a.fail("w has " + std::to_string(W.len) + " bytes but a " + quant_name(type) + " matrix of " + std::to_string(rows) +
           " rows of " + std::to_string(row_len) + " takes " + std::to_string(want));
    return env.Undefined();
  }
  const bool touched = m > 0 && n > 0;
  if (touched) {
    a.need(C, sat_add(coff, m * n), "c (from cOffset)");
    if (k > 0) a.need(A, sat_add(aoff, m * k), "a (from aOffset)");
  }
  if (!a.ok() || !touched) return env.Undefined();
  const QGemmArgs g{A.p + aoff, W.p, type, trans_w, C.p + coff, m, n, k, acc};
  qgemm(g);
  return env.Undefined();
}

Napi::Value DequantRows(const Napi::CallbackInfo& info) {
  Args a(info, "dequantRows");
  Napi::Env env = info.Env();
  if (info.Length() != 5) {
    a.fail("expected 5 arguments (w, wType, rowLength, rows, out)");
    return env.Undefined();
  }
  Arr<uint8_t> W = a.u8(0, "w");
  int64_t be = 0, bb = 0;
  read_type(a, 1, &be, &bb);
  const int64_t row_len = a.integer(2, "rowLength");
  Arr<int32_t> rows = a.i32(3, "rows");
  Arr<float> out = a.f32(4, "out");
  if (!a.ok()) return env.Undefined();
  const int type = static_cast<int>(info[1].As<Napi::Number>().Int32Value());
  if (row_len == 0 || row_len > kMaxDim || row_len % be != 0) {
    a.fail("rowLength (" + std::to_string(row_len) + ") must be a positive multiple of the " + quant_name(type) +
           " block (" + std::to_string(be) + ") below 2^31");
    return env.Undefined();
  }
  const int64_t row_bytes = row_len / be * bb;
  if (W.len % row_bytes != 0) {
    a.fail("w has " + std::to_string(W.len) + " bytes, not a whole number of " + quant_name(type) + " rows of " +
           std::to_string(row_len) + " (" + std::to_string(row_bytes) + " bytes each)");
    return env.Undefined();
  }
  const int64_t nrows = W.len / row_bytes;
  for (int64_t i = 0; i < rows.len; i++)
    if (rows.p[i] < 0 || rows.p[i] >= nrows) {
      a.fail("rows[" + std::to_string(i) + "] = " + std::to_string(rows.p[i]) + " is outside the " + std::to_string(nrows) +
             " rows of w");
      return env.Undefined();
    }
  a.need(out, sat_mul(rows.len, row_len), "out");
  if (!a.ok()) return env.Undefined();
  dequant_rows(type, W.p, row_len, rows.p, rows.len, out.p);
  return env.Undefined();
}

}  // namespace

void RegisterQuant(Napi::Env env, Napi::Object exports) {
  exports.Set("qgemm", Napi::Function::New(env, QGemm));
  exports.Set("dequantRows", Napi::Function::New(env, DequantRows));
}

}  // namespace whet
