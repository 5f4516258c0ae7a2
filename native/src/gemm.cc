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

}  // namespace whet
