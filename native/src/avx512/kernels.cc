// AVX-512 build of the non-GEMM kernels: the generic code in impl/kernels_*.inc over this ISA's vector wrapper.
// GCC 12's AVX-512 headers build "undefined" vectors by self-initialisation, which -Wall flags once inlined.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#include <cstdint>

#include "kernels.h"

namespace whet {
namespace avx512 {
#include "impl/kernels_simd_avx512.inc"
#include "impl/kernels_math.inc"
#include "impl/kernels_elementwise.inc"
#include "impl/kernels_rows.inc"
#include "impl/kernels_lora.inc"
#include "impl/kernels_table.inc"
}  // namespace avx512
}  // namespace whet
