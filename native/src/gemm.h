// Batched fp32 GEMM shared by the binding and the per-ISA kernels (B optionally bf16).
#pragma once
#include <cstdint>

namespace whet {

// C[i] = op(A[i])·op(B[i]) (+ C[i] when accumulate), i < batch; pointers already include offsets.
// A is stored m×k (k×m when trans_a), B k×n (n×k when trans_b), C m×n, all row-major and dense.
//
// Precision with bf16 B. Sums are always accumulated in f32. On the avx512 variant, when the CPU has
// AVX512_BF16 (and bf16_dot_enabled(), isa.h), A is rounded to bf16 (nearest even, as castToBf16) for
// products with m ≥ 12, or any m with B stored n × k (prefill, training through frozen weights, decode and
// batched decode: the activation row is rounded once per matrix, as llama.cpp does), so that
// vdpbf16ps multiplies bf16 pairs at twice the FMA rate: each product a·b then carries A's rounding,
// at most 2^-9 relative (so |ΔC| ≤ 2^-9·Σ|a·b|), and values below 2^-126 in magnitude (f32 denormals
// in A, bf16 denormals in B) count as zero. Every other case multiplies A in f32 by B widened exactly.
// gemm_bf16_rounds_a() says which applies to a shape.
struct GemmArgs {
  const float* a; int64_t stride_a; bool trans_a;
  const void* b; int64_t stride_b; bool trans_b; bool b_bf16;  // b: float or bf16 bits (uint16)
  float* c; int64_t stride_c;
  int64_t batch, m, n, k;
  bool accumulate;
};

void gemm(const GemmArgs& args);  // runs the variant for active_isa()

// Whether gemm() with bf16 B rounds A to bf16 for a product of this shape, on the active ISA (see above).
bool gemm_bf16_rounds_a(int64_t m, int64_t k, bool trans_b);

namespace avx512 {
void gemm(const GemmArgs& args);
bool bf16_rounds_a(int64_t m, int64_t k, bool trans_b);  // ignores the active ISA
}
namespace avx2 { void gemm(const GemmArgs& args); }
namespace scalar { void gemm(const GemmArgs& args); }

}  // namespace whet
