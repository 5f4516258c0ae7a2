// GEMM for CPUs without AVX2: the portable kernels at SSE2 width (4 floats).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "gemm.h"
#include "threadpool.h"

#define WHET_VW 4

namespace whet {
namespace scalar {

#include "impl/gemm_common.inc"

namespace {

inline vf load(const uint16_t* p) { return (vf)(__builtin_convertvector(*reinterpret_cast<const vh*>(p), vu) << 16); }

}  // namespace

#include "impl/gemm_generic.inc"

namespace {

constexpr int kMR = 4, kNV = 2, kMRs = 4;  // 4 × 8 tile: 8 accumulators of the 16 xmm registers
constexpr int64_t kKC = 256, kBlockFloats = 64 << 10;

template <int MR, int NV, bool AROW>
inline void ukr(int64_t kc, const float* a, int64_t lda, const float* bp, float* c, int64_t ldc, bool load_c) {
  generic_ukr<MR, NV, AROW>(kc, a, lda, bp, c, ldc, load_c);
}

template <int W, class T>
inline void pack_rows_transposed(const T* src, int64_t stride, int64_t rows, int64_t kc, float* dst) {
  generic_pack_rows_transposed<W>(src, stride, rows, kc, dst);
}

}  // namespace

#include "impl/gemm_driver.inc"

}  // namespace scalar
}  // namespace whet
