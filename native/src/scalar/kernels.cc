// Portable scalar build of the non-GEMM kernels: the generic code in impl/kernels_*.inc over this ISA's vector wrapper.
#include <cstdint>

#include "kernels.h"

namespace whet {
namespace scalar {
#include "impl/kernels_simd_scalar.inc"
#include "impl/kernels_math.inc"
#include "impl/kernels_elementwise.inc"
#include "impl/kernels_rows.inc"
#include "impl/kernels_lora.inc"
#include "impl/kernels_table.inc"
}  // namespace scalar
}  // namespace whet
