// N-API bindings of the non-GEMM kernels: argument and bounds checks, ISA dispatch, threading over rows/chunks.
#include <napi.h>

#include <cstring>
#include <string>
#include <vector>

#include "isa.h"
#include "kernels.h"
#include "kernels_args.h"
#include "kernels_nd.h"
#include "threadpool.h"

namespace whet {

const KernelTable& kernels() {
  switch (active_isa()) {
    case Isa::avx512: return avx512::kernel_table();
    case Isa::avx2: return avx2::kernel_table();
    default: return scalar::kernel_table();
  }
}

void RegisterStridedKernels(Napi::Env env, Napi::Object exports);

namespace {

// Elements per thread at least, so that work under ~50 us runs inline: memory-bound ops move ~0.4 ns per element
// here, ops with a transcendental cost about as much again.
constexpr int64_t kGrain = 65536;
constexpr int64_t kMathGrain = 32768;

// Runs fn(chunk, begin, end) on `chunks` contiguous parts of [0, n) on the pool (inline for one chunk).
template <class F>
void run_chunks(int64_t n, int64_t chunks, const F& fn) {
  if (chunks <= 1) {
    fn(0, 0, n);
    return;
  }
  parallel_for(chunks, [&](int64_t c) { fn(c, n * c / chunks, n * (c + 1) / chunks); });
}

// Splits rows of `dim` elements so each thread gets at least `grain` elements.
template <class F>
void run_rows(int64_t rows, int64_t dim, int64_t grain, const F& fn) {
  int64_t chunks = plan_chunks(sat_mul(rows, dim), grain);
  run_chunks(rows, chunks < rows ? chunks : rows, [&](int64_t, int64_t r0, int64_t r1) { fn(r0, r1); });
}

Napi::Value Fill(const Napi::CallbackInfo& info) {
  Args a(info, "fill");
  Arr<float> out = a.f32(0, "out");
  int64_t off = a.integer(1, "offset"), n = a.integer(2, "n");
  float value = static_cast<float>(a.number(3, "value"));
  a.need(out, sat_add(off, n), "out");
  if (!a.ok()) return info.Env().Undefined();
  const KernelTable& K = kernels();
  run_rows(n, 1, kGrain, [&](int64_t b, int64_t e) { K.fill(out.p + off + b, e - b, value); });
  return info.Env().Undefined();
}

Napi::Value CastToBf16(const Napi::CallbackInfo& info) {
  Args a(info, "castToBf16");
  Arr<float> src = a.f32(0, "src");
  Arr<uint16_t> dst = a.u16(1, "dst");
  int64_t n = a.integer(2, "n");
  a.need(src, n, "src");
  a.need(dst, n, "dst");
  if (!a.ok()) return info.Env().Undefined();
  const KernelTable& K = kernels();
  run_rows(n, 1, kGrain, [&](int64_t b, int64_t e) { K.cast_to_bf16(src.p + b, dst.p + b, e - b); });
  return info.Env().Undefined();
}

Napi::Value CastFromBf16(const Napi::CallbackInfo& info) {
  Args a(info, "castFromBf16");
  Arr<uint16_t> src = a.u16(0, "src");
  Arr<float> dst = a.f32(1, "dst");
  int64_t n = a.integer(2, "n");
  a.need(src, n, "src");
  a.need(dst, n, "dst");
  if (!a.ok()) return info.Env().Undefined();
  const KernelTable& K = kernels();
  run_rows(n, 1, kGrain, [&](int64_t b, int64_t e) { K.cast_from_bf16(src.p + b, dst.p + b, e - b); });
  return info.Env().Undefined();
}

bool cheap_unary(int64_t op) { return op == kNeg || op == kSquare || op == kRelu || op == kSqrt; }

// unary(op, x, out, n); out may alias x.
Napi::Value Unary(const Napi::CallbackInfo& info) {
  Args a(info, "unary");
  int64_t op = a.integer(0, "op");
  if (a.ok() && op >= kUnaryCount) a.fail("unknown op code " + std::to_string(op));
  Arr<float> x = a.f32(1, "x"), out = a.f32(2, "out");
  int64_t n = a.integer(3, "n");
  a.need(x, n, "x");
  a.need(out, n, "out");
  if (!a.ok()) return info.Env().Undefined();
  const KernelTable& K = kernels();
  run_rows(n, 1, cheap_unary(op) ? kGrain : kMathGrain,
           [&](int64_t b, int64_t e) { K.unary(static_cast<int>(op), x.p + b, out.p + b, e - b); });
  return info.Env().Undefined();
}

// unaryBackward(op, x, y, gy, gx, n); only the arrays the op's derivative reads must hold n elements.
Napi::Value UnaryBackward(const Napi::CallbackInfo& info) {
  Args a(info, "unaryBackward");
  int64_t op = a.integer(0, "op");
  if (a.ok() && op >= kUnaryCount) a.fail("unknown op code " + std::to_string(op));
  Arr<float> x = a.f32(1, "x"), y = a.f32(2, "y"), gy = a.f32(3, "gy"), gx = a.f32(4, "gx");
  int64_t n = a.integer(5, "n");
  const bool uses_y = op == kExp || op == kSqrt || op == kTanh || op == kSigmoid;
  if (op != kNeg && !uses_y) a.need(x, n, "x");
  if (uses_y) a.need(y, n, "y");
  a.need(gy, n, "gy");
  a.need(gx, n, "gx");
  if (!a.ok()) return info.Env().Undefined();
  const KernelTable& K = kernels();
  run_rows(n, 1, cheap_unary(op) || uses_y ? kGrain : kMathGrain, [&](int64_t b, int64_t e) {
    K.unary_backward(static_cast<int>(op), x.p + (uses_y || op == kNeg ? 0 : b), y.p + (uses_y ? b : 0), gy.p + b, gx.p + b, e - b);
  });
  return info.Env().Undefined();
}

Napi::Value Affine(const Napi::CallbackInfo& info) {
  Args a(info, "affine");
  Arr<float> x = a.f32(0, "x"), out = a.f32(1, "out");
  int64_t n = a.integer(2, "n");
  float scale = static_cast<float>(a.number(3, "scale")), shift = static_cast<float>(a.number(4, "shift"));
  a.need(x, n, "x");
  a.need(out, n, "out");
  if (!a.ok()) return info.Env().Undefined();
  const KernelTable& K = kernels();
  run_rows(n, 1, kGrain, [&](int64_t b, int64_t e) { K.affine(x.p + b, out.p + b, e - b, scale, shift); });
  return info.Env().Undefined();
}

Napi::Value SumSquares(const Napi::CallbackInfo& info) {
  Args a(info, "sumSquares");
  Arr<float> x = a.f32(0, "x");
  int64_t n = a.integer(1, "n");
  a.need(x, n, "x");
  if (!a.ok()) return info.Env().Undefined();
  const KernelTable& K = kernels();
  const int64_t chunks = plan_chunks(n, kGrain);
  std::vector<double> partial(static_cast<size_t>(chunks), 0.0);
  run_chunks(n, chunks, [&](int64_t c, int64_t b, int64_t e) { partial[c] = K.sum_squares(x.p + b, e - b); });
  double s = 0;
  for (double p : partial) s += p;
  return Napi::Number::New(info.Env(), s);
}

Napi::Value Rmsnorm(const Napi::CallbackInfo& info) {
  Args a(info, "rmsnorm");
  Arr<float> x = a.f32(0, "x"), w = a.f32(1, "w"), y = a.f32(2, "y"), rstd = a.f32(3, "rstd");
  int64_t rows = a.integer(4, "rows"), dim = a.integer(5, "dim");
  float eps = static_cast<float>(a.number(6, "eps"));
  a.need(x, sat_mul(rows, dim), "x");
  a.need(w, dim, "w");
  a.need(y, sat_mul(rows, dim), "y");
  a.need(rstd, rows, "rstd");
  if (!a.ok()) return info.Env().Undefined();
  const KernelTable& K = kernels();
  run_rows(rows, dim, kGrain, [&](int64_t r0, int64_t r1) { K.rmsnorm(x.p, w.p, y.p, rstd.p, r0, r1, dim, eps); });
  return info.Env().Undefined();
}

// Writes gx; accumulates gw. Each extra thread sums its rows' weight gradient privately; the sums are added at the end.
Napi::Value RmsnormBackward(const Napi::CallbackInfo& info) {
  Args a(info, "rmsnormBackward");
  Arr<float> x = a.f32(0, "x"), w = a.f32(1, "w"), rstd = a.f32(2, "rstd"), gy = a.f32(3, "gy"), gx = a.f32(4, "gx"),
             gw = a.f32(5, "gw");
  int64_t rows = a.integer(6, "rows"), dim = a.integer(7, "dim");
  const int64_t size = sat_mul(rows, dim);
  a.need(x, size, "x");
  a.need(w, dim, "w");
  a.need(rstd, rows, "rstd");
  a.need(gy, size, "gy");
  a.need(gx, size, "gx");
  a.need(gw, dim, "gw");
  if (!a.ok()) return info.Env().Undefined();
  const KernelTable& K = kernels();
  int64_t chunks = plan_chunks(size, kGrain);
  if (chunks > rows) chunks = rows;
  std::vector<float> partial(chunks > 1 ? static_cast<size_t>((chunks - 1) * dim) : 0, 0.0f);
  run_chunks(rows, chunks, [&](int64_t c, int64_t r0, int64_t r1) {
    float* g = c == 0 ? gw.p : partial.data() + (c - 1) * dim;
    K.rmsnorm_backward(x.p, w.p, rstd.p, gy.p, gx.p, g, r0, r1, dim);
  });
  for (int64_t c = 1; c < chunks; c++) K.accumulate(gw.p, partial.data() + (c - 1) * dim, dim);
  return info.Env().Undefined();
}

// rope(x, out, rows, heads, dim, positions, invFreq, interleaved, inverse); out may alias x.
Napi::Value Rope(const Napi::CallbackInfo& info) {
  Args a(info, "rope");
  Arr<float> x = a.f32(0, "x"), out = a.f32(1, "out");
  int64_t rows = a.integer(2, "rows"), heads = a.integer(3, "heads"), dim = a.integer(4, "dim");
  Arr<int32_t> pos = a.i32(5, "positions");
  Arr<float> inv_freq = a.f32(6, "invFreq");
  bool interleaved = a.flag(7, "interleaved"), inverse = a.flag(8, "inverse");
  if (a.ok() && dim % 2 != 0) a.fail("head dim " + std::to_string(dim) + " is odd");
  const int64_t row_size = sat_mul(heads, dim);
  a.need(x, sat_mul(rows, row_size), "x");
  a.need(out, sat_mul(rows, row_size), "out");
  a.need(pos, rows, "positions");
  a.need(inv_freq, dim / 2, "invFreq");
  if (!a.ok()) return info.Env().Undefined();
  const KernelTable& K = kernels();
  run_rows(rows, row_size, kMathGrain, [&](int64_t r0, int64_t r1) {
    K.rope(x.p, out.p, r0, r1, heads, dim, pos.p, inv_freq.p, interleaved, inverse);
  });
  return info.Env().Undefined();
}

Napi::Value Swiglu(const Napi::CallbackInfo& info) {
  Args a(info, "swiglu");
  Arr<float> gate = a.f32(0, "gate"), up = a.f32(1, "up"), out = a.f32(2, "out");
  int64_t n = a.integer(3, "n");
  a.need(gate, n, "gate");
  a.need(up, n, "up");
  a.need(out, n, "out");
  if (!a.ok()) return info.Env().Undefined();
  const KernelTable& K = kernels();
  run_rows(n, 1, kMathGrain, [&](int64_t b, int64_t e) { K.swiglu(gate.p + b, up.p + b, out.p + b, e - b); });
  return info.Env().Undefined();
}

Napi::Value SwigluBackward(const Napi::CallbackInfo& info) {
  Args a(info, "swigluBackward");
  Arr<float> gate = a.f32(0, "gate"), up = a.f32(1, "up"), gout = a.f32(2, "gout"), ggate = a.f32(3, "ggate"),
             gup = a.f32(4, "gup");
  int64_t n = a.integer(5, "n");
  a.need(gate, n, "gate");
  a.need(up, n, "up");
  a.need(gout, n, "gout");
  a.need(ggate, n, "ggate");
  a.need(gup, n, "gup");
  if (!a.ok()) return info.Env().Undefined();
  const KernelTable& K = kernels();
  run_rows(n, 1, kMathGrain, [&](int64_t b, int64_t e) {
    K.swiglu_backward(gate.p + b, up.p + b, gout.p + b, ggate.p + b, gup.p + b, e - b);
  });
  return info.Env().Undefined();
}

// dropout(x, out, n, seed, threshold, scale): out may alias x.
Napi::Value Dropout(const Napi::CallbackInfo& info) {
  Args a(info, "dropout");
  Arr<float> x = a.f32(0, "x"), out = a.f32(1, "out");
  int64_t n = a.integer(2, "n");
  const uint32_t seed = static_cast<uint32_t>(a.integer(3, "seed"));
  const int32_t threshold = static_cast<int32_t>(a.integer(4, "threshold"));
  const float scale = static_cast<float>(a.number(5, "scale"));
  a.need(x, n, "x");
  a.need(out, n, "out");
  if (!a.ok()) return info.Env().Undefined();
  const KernelTable& K = kernels();
  run_rows(n, 1, kMathGrain, [&](int64_t b, int64_t e) {
    K.dropout(x.p + b, out.p + b, e - b, static_cast<uint32_t>(b), seed, threshold, scale);
  });
  return info.Env().Undefined();
}

// softmax(x, y, rows, n, causalQueryLen, causalOffset); the offset may be negative.
Napi::Value Softmax(const Napi::CallbackInfo& info) {
  Args a(info, "softmax");
  Arr<float> x = a.f32(0, "x"), y = a.f32(1, "y");
  int64_t rows = a.integer(2, "rows"), n = a.integer(3, "n");
  int64_t causal_len = a.integer(4, "causalQueryLen"), causal_off = a.integer(5, "causalOffset", -9007199254740992LL);
  a.need(x, sat_mul(rows, n), "x");
  a.need(y, sat_mul(rows, n), "y");
  if (!a.ok()) return info.Env().Undefined();
  const KernelTable& K = kernels();
  run_rows(rows, n, kMathGrain, [&](int64_t r0, int64_t r1) { K.softmax(x.p, y.p, r0, r1, n, causal_len, causal_off); });
  return info.Env().Undefined();
}

Napi::Value SoftmaxBackward(const Napi::CallbackInfo& info) {
  Args a(info, "softmaxBackward");
  Arr<float> y = a.f32(0, "y"), gy = a.f32(1, "gy"), gx = a.f32(2, "gx");
  int64_t rows = a.integer(3, "rows"), n = a.integer(4, "n");
  a.need(y, sat_mul(rows, n), "y");
  a.need(gy, sat_mul(rows, n), "gy");
  a.need(gx, sat_mul(rows, n), "gx");
  if (!a.ok()) return info.Env().Undefined();
  const KernelTable& K = kernels();
  run_rows(rows, n, kGrain, [&](int64_t r0, int64_t r1) { K.softmax_backward(y.p, gy.p, gx.p, r0, r1, n); });
  return info.Env().Undefined();
}

// Every target is either ignoreIndex or a valid column.
void check_targets(Args& a, const Arr<int32_t>& targets, int64_t rows, int64_t vocab, int64_t ignore) {
  for (int64_t r = 0; r < rows && a.ok(); r++) {
    const int64_t t = targets.p[r];
    if (t != ignore && (t < 0 || t >= vocab))
      a.fail("target " + std::to_string(t) + " of row " + std::to_string(r) + " is outside [0, " + std::to_string(vocab) + ")");
  }
}

// logprobGather(logits, targets, out, lse, rows, vocab, ignoreIndex)
Napi::Value LogprobGather(const Napi::CallbackInfo& info) {
  Args a(info, "logprobGather");
  Arr<float> logits = a.f32(0, "logits");
  Arr<int32_t> targets = a.i32(1, "targets");
  Arr<float> out = a.f32(2, "out"), lse = a.f32(3, "lse");
  int64_t rows = a.integer(4, "rows"), vocab = a.integer(5, "vocab");
  int64_t ignore = a.integer(6, "ignoreIndex", INT32_MIN);
  if (a.ok() && ignore > INT32_MAX) a.fail("ignoreIndex must fit in an int32");
  a.need(logits, sat_mul(rows, vocab), "logits");
  a.need(targets, rows, "targets");
  a.need(out, rows, "out");
  a.need(lse, rows, "lse");
  if (a.ok()) check_targets(a, targets, rows, vocab, ignore);
  if (!a.ok()) return info.Env().Undefined();
  const KernelTable& K = kernels();
  run_rows(rows, vocab, kMathGrain, [&](int64_t r0, int64_t r1) {
    K.logprob_gather(logits.p, targets.p, out.p, lse.p, r0, r1, vocab, static_cast<int32_t>(ignore));
  });
  return info.Env().Undefined();
}

// logprobGatherBackward(logits, targets, lse, gout, glogits, rows, vocab, ignoreIndex); glogits may alias logits.
Napi::Value LogprobGatherBackward(const Napi::CallbackInfo& info) {
  Args a(info, "logprobGatherBackward");
  Arr<float> logits = a.f32(0, "logits");
  Arr<int32_t> targets = a.i32(1, "targets");
  Arr<float> lse = a.f32(2, "lse"), gout = a.f32(3, "gout"), glogits = a.f32(4, "glogits");
  int64_t rows = a.integer(5, "rows"), vocab = a.integer(6, "vocab");
  int64_t ignore = a.integer(7, "ignoreIndex", INT32_MIN);
  if (a.ok() && ignore > INT32_MAX) a.fail("ignoreIndex must fit in an int32");
  a.need(logits, sat_mul(rows, vocab), "logits");
  a.need(targets, rows, "targets");
  a.need(lse, rows, "lse");
  a.need(gout, rows, "gout");
  a.need(glogits, sat_mul(rows, vocab), "glogits");
  if (a.ok()) check_targets(a, targets, rows, vocab, ignore);
  if (!a.ok()) return info.Env().Undefined();
  const KernelTable& K = kernels();
  run_rows(rows, vocab, kMathGrain, [&](int64_t r0, int64_t r1) {
    K.logprob_gather_backward(logits.p, targets.p, lse.p, gout.p, glogits.p, r0, r1, vocab, static_cast<int32_t>(ignore));
  });
  return info.Env().Undefined();
}

// Every id indexes a row of a (vocab, dim) table holding `len` elements.
void check_ids(Args& a, const Arr<int32_t>& ids, int64_t n, int64_t dim, int64_t len) {
  const int64_t vocab = dim > 0 ? len / dim : INT64_MAX;
  for (int64_t i = 0; i < n && a.ok(); i++)
    if (ids.p[i] < 0 || ids.p[i] >= vocab)
      a.fail("id " + std::to_string(ids.p[i]) + " at " + std::to_string(i) + " is outside [0, " + std::to_string(vocab) + ")");
}

// embedding(table, ids, out, n, dim); table is a Float32Array or a Uint16Array of bf16 bits.
Napi::Value Embedding(const Napi::CallbackInfo& info) {
  Args a(info, "embedding");
  const Args::Weights table = a.weights(0, "table");
  Arr<int32_t> ids = a.i32(1, "ids");
  Arr<float> out = a.f32(2, "out");
  int64_t n = a.integer(3, "n"), dim = a.integer(4, "dim");
  a.need(ids, n, "ids");
  a.need(out, sat_mul(n, dim), "out");
  if (a.ok()) check_ids(a, ids, n, dim, table.len());
  if (!a.ok()) return info.Env().Undefined();
  const KernelTable& K = kernels();
  run_rows(n, dim, kGrain, [&](int64_t i0, int64_t i1) {
    if (table.bf16) {
      K.embedding_bf16(table.h.p, ids.p, out.p, i0, i1, dim);
      return;
    }
    for (int64_t i = i0; i < i1; i++)
      std::memcpy(out.p + i * dim, table.f.p + static_cast<int64_t>(ids.p[i]) * dim, static_cast<size_t>(dim) * sizeof(float));
  });
  return info.Env().Undefined();
}

// embeddingBackward(gout, ids, gtable, n, dim). Threads split the columns, never the ids: a repeated id then
// always lands in one thread's columns, so the scatter-add needs no atomics.
Napi::Value EmbeddingBackward(const Napi::CallbackInfo& info) {
  Args a(info, "embeddingBackward");
  Arr<float> gout = a.f32(0, "gout");
  Arr<int32_t> ids = a.i32(1, "ids");
  Arr<float> gtable = a.f32(2, "gtable");
  int64_t n = a.integer(3, "n"), dim = a.integer(4, "dim");
  a.need(gout, sat_mul(n, dim), "gout");
  a.need(ids, n, "ids");
  if (a.ok()) check_ids(a, ids, n, dim, gtable.len);
  if (!a.ok()) return info.Env().Undefined();
  const KernelTable& K = kernels();
  constexpr int64_t kLine = 16;  // floats per cache line: column cuts on line boundaries avoid false sharing
  int64_t chunks = plan_chunks(sat_mul(n, dim), kGrain);
  if (chunks > dim / kLine) chunks = dim / kLine > 0 ? dim / kLine : 1;
  run_chunks(chunks, chunks, [&](int64_t c, int64_t, int64_t) {
    const int64_t c0 = c == 0 ? 0 : dim * c / chunks / kLine * kLine;
    const int64_t c1 = c + 1 == chunks ? dim : dim * (c + 1) / chunks / kLine * kLine;
    K.embedding_backward(gout.p, ids.p, gtable.p, n, dim, c0, c1);
  });
  return info.Env().Undefined();
}

// adamw(p, g, m, v, n, lr, beta1, beta2, eps, weightDecay, bc1, bc2)
Napi::Value Adamw(const Napi::CallbackInfo& info) {
  Args a(info, "adamw");
  Arr<float> p = a.f32(0, "p"), g = a.f32(1, "g"), m = a.f32(2, "m"), v = a.f32(3, "v");
  int64_t n = a.integer(4, "n");
  const double lr = a.number(5, "lr"), beta1 = a.number(6, "beta1"), beta2 = a.number(7, "beta2"), eps = a.number(8, "eps"),
               wd = a.number(9, "weightDecay"), bc1 = a.number(10, "bc1"), bc2 = a.number(11, "bc2");
  a.need(p, n, "p");
  a.need(g, n, "g");
  a.need(m, n, "m");
  a.need(v, n, "v");
  if (!a.ok()) return info.Env().Undefined();
  const KernelTable& K = kernels();
  run_rows(n, 1, kGrain, [&](int64_t b, int64_t e) {
    K.adamw(p.p + b, g.p + b, m.p + b, v.p + b, e - b, static_cast<float>(lr * wd), static_cast<float>(beta1),
            static_cast<float>(1 - beta1), static_cast<float>(beta2), static_cast<float>(1 - beta2),
            static_cast<float>(lr / bc1), static_cast<float>(1 / bc2), static_cast<float>(eps));
  });
  return info.Env().Undefined();
}

}  // namespace

void RegisterKernels(Napi::Env env, Napi::Object exports) {
  struct Entry {
    const char* name;
    Napi::Value (*fn)(const Napi::CallbackInfo&);
  };
  const Entry entries[] = {
      {"fill", Fill},
      {"castToBf16", CastToBf16},
      {"castFromBf16", CastFromBf16},
      {"unary", Unary},
      {"unaryBackward", UnaryBackward},
      {"affine", Affine},
      {"sumSquares", SumSquares},
      {"rmsnorm", Rmsnorm},
      {"rmsnormBackward", RmsnormBackward},
      {"rope", Rope},
      {"swiglu", Swiglu},
      {"swigluBackward", SwigluBackward},
      {"dropout", Dropout},
      {"softmax", Softmax},
      {"softmaxBackward", SoftmaxBackward},
      {"logprobGather", LogprobGather},
      {"logprobGatherBackward", LogprobGatherBackward},
      {"embedding", Embedding},
      {"embeddingBackward", EmbeddingBackward},
      {"adamw", Adamw},
  };
  for (const Entry& e : entries) exports.Set(e.name, Napi::Function::New(env, e.fn, e.name));
  RegisterStridedKernels(env, exports);
}

}  // namespace whet
