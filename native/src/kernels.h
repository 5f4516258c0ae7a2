// Non-GEMM kernels: one table of single-threaded functions per instruction set; the binding threads them.
#pragma once
#include <cstdint>

namespace whet {

enum BinaryOpCode : int { kAdd = 0, kSub = 1, kMul = 2, kDiv = 3 };
enum UnaryOpCode : int { kExp = 0, kLog, kNeg, kSqrt, kSquare, kRelu, kTanh, kSigmoid, kSilu, kLogsigmoid, kUnaryCount };

// Row-range kernels take [r0, r1) and full-size base pointers, so callers can split rows across threads.
struct KernelTable {
  void (*fill)(float* out, int64_t n, float value);
  void (*cast_to_bf16)(const float* src, uint16_t* dst, int64_t n);
  void (*cast_from_bf16)(const uint16_t* src, float* dst, int64_t n);
  // out[i] = a[i*sa] op b[i*sb] for i < n.
  void (*binary)(int op, const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n);
  void (*unary)(int op, const float* x, float* out, int64_t n);
  void (*unary_backward)(int op, const float* x, const float* y, const float* gy, float* gx, int64_t n);
  void (*affine)(const float* x, float* out, int64_t n, float scale, float shift);
  // acc[i] += x[i].
  void (*accumulate)(float* acc, const float* x, int64_t n);
  // Sum of x[i] for i < n.
  float (*sum)(const float* x, int64_t n);
  double (*sum_squares)(const float* x, int64_t n);
  void (*rmsnorm)(const float* x, const float* w, float* y, float* rstd, int64_t r0, int64_t r1, int64_t dim, float eps);
  // Writes gx rows [r0, r1) and accumulates this range's weight gradient into gw.
  void (*rmsnorm_backward)(const float* x, const float* w, const float* rstd, const float* gy, float* gx, float* gw,
                           int64_t r0, int64_t r1, int64_t dim);
  void (*rope)(const float* x, float* out, int64_t r0, int64_t r1, int64_t heads, int64_t dim, const int32_t* positions,
               const float* inv_freq, bool interleaved, bool inverse);
  void (*swiglu)(const float* gate, const float* up, float* out, int64_t n);
  void (*swiglu_backward)(const float* gate, const float* up, const float* gout, float* ggate, float* gup, int64_t n);
  // Inverted dropout with a mask hashed from (seed, start + i); see impl/kernels_elementwise.inc.
  void (*dropout)(const float* x, float* out, int64_t n, uint32_t start, uint32_t seed, int32_t threshold, float scale);
  void (*softmax)(const float* x, float* y, int64_t r0, int64_t r1, int64_t n, int64_t causal_len, int64_t causal_offset);
  void (*softmax_backward)(const float* y, const float* gy, float* gx, int64_t r0, int64_t r1, int64_t n);
  void (*logprob_gather)(const float* logits, const int32_t* targets, float* out, float* lse, int64_t r0, int64_t r1,
                         int64_t vocab, int32_t ignore_index);
  void (*logprob_gather_backward)(const float* logits, const int32_t* targets, const float* lse, const float* gout,
                                  float* glogits, int64_t r0, int64_t r1, int64_t vocab, int32_t ignore_index);
  // out row i = table row ids[i] (bf16 widened), for i in [i0, i1).
  void (*embedding_bf16)(const uint16_t* table, const int32_t* ids, float* out, int64_t i0, int64_t i1, int64_t dim);
  // gtable[ids[i], c0:c1) += gout[i, c0:c1) for every i < n.
  void (*embedding_backward)(const float* gout, const int32_t* ids, float* gtable, int64_t n, int64_t dim, int64_t c0,
                             int64_t c1);
  // Factors precomputed in double: decay = lr*weightDecay, c1 = 1-beta1, c2 = 1-beta2, step = lr/bc1, inv_bc2 = 1/bc2.
  void (*adamw)(float* p, const float* g, float* m, float* v, int64_t n, float decay, float beta1, float c1, float beta2,
                float c2, float step, float inv_bc2, float eps);
  // One LoRA adapter group's halves (impl/kernels_lora.inc), A (r × in_f) and B (out_f × r) row-major:
  // t[j·ldt + k] = scale · Σ_i a[k·in_f + i]·x[rows[j]·in_f + i] for j < n, k in [k0, k1);
  void (*lora_down)(const float* x, const int32_t* rows, int64_t n, int64_t in_f, const float* a, int64_t k0, int64_t k1,
                    float scale, float* t, int64_t ldt);
  // y[rows[j]·out_f + o] += Σ_k b[o·r + k]·t[j·ldt + k] for j < n, o in [o0, o1), where ldt is a multiple of 16 ≥ r
  // and t holds zeros from r to ldt.
  void (*lora_up)(const float* t, int64_t ldt, const int32_t* rows, int64_t n, const float* b, int64_t r, int64_t o0,
                  int64_t o1, float* y, int64_t out_f);
};

namespace avx512 { const KernelTable& kernel_table(); }
namespace avx2 { const KernelTable& kernel_table(); }
namespace scalar { const KernelTable& kernel_table(); }

// The table for whet::active_isa().
const KernelTable& kernels();

}  // namespace whet
