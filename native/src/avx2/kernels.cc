// AVX2 build of the non-GEMM kernels: the generic code in impl/kernels_*.inc over this ISA's vector wrapper.
#include <immintrin.h>
#include <cstdint>

#include "kernels.h"

namespace whet {
namespace avx2 {
#include "impl/kernels_simd_avx2.inc"
#include "impl/kernels_math.inc"
#include "impl/kernels_elementwise.inc"
#include "impl/kernels_rows.inc"
#include "impl/kernels_lora.inc"
#include "impl/kernels_table.inc"
}  // namespace avx2
}  // namespace whet
