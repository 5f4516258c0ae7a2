// Batched fp32 GEMM shared by the binding and the per-ISA kernels (B optionally bf16).
#pragma once
#include <cstdint>

namespace whet {

// C[i] = op(A[i])·op(B[i]) (+ C[i] when accumulate), i < batch; pointers already include offsets.
// A is stored m×k (k×m when trans_a), B k×n (n×k when trans_b), C m×n, all row-major and dense.
struct GemmArgs {
  const float* a; int64_t stride_a; bool trans_a;
  const void* b; int64_t stride_b; bool trans_b; bool b_bf16;  // b: float or bf16 bits (uint16)
  float* c; int64_t stride_c;
  int64_t batch, m, n, k;
  bool accumulate;
};

void gemm(const GemmArgs& args);  // runs the variant for active_isa()

namespace avx512 { void gemm(const GemmArgs& args); }
namespace avx2 { void gemm(const GemmArgs& args); }
namespace scalar { void gemm(const GemmArgs& args); }

}  // namespace whet
