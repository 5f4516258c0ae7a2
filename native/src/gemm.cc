// Picks the GEMM variant for the active instruction set.
#include "gemm.h"

#include "isa.h"

namespace whet {

void gemm(const GemmArgs& args) {
  switch (active_isa()) {
    case Isa::avx512: avx512::gemm(args); break;
    case Isa::avx2: avx2::gemm(args); break;
    default: scalar::gemm(args); break;
  }
}

bool gemm_bf16_rounds_a(int64_t m, int64_t k, bool trans_b) {
  return active_isa() == Isa::avx512 && avx512::bf16_rounds_a(m, k, trans_b);
}

}  // namespace whet
