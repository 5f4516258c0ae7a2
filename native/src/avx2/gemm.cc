// GEMM for AVX2 + FMA: a 6 × 16 register tile (12 ymm accumulators) and 8 × 8 in-register transposes for packing.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "gemm.h"
#include "threadpool.h"

#define WHET_VW 8

namespace whet {
namespace avx2 {

#include "impl/gemm_common.inc"

namespace {

inline vf load(const uint16_t* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return (vf)_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

}  // namespace

#include "impl/gemm_generic.inc"

namespace {

// 6 × 16: 12 accumulators + 2 B vectors + 1 broadcast of the 16 ymm registers.
constexpr int kMR = 6, kNV = 2, kMRs = 6;
constexpr int64_t kKC = 256, kBlockFloats = 128 << 10;

template <int MR, int NV, bool AROW>
inline void ukr(int64_t kc, const float* a, int64_t lda, const float* bp, float* c, int64_t ldc, bool load_c) {
  constexpr int NR = NV * 8;
  __m256 acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) acc[r][v] = _mm256_setzero_ps();
  for (int64_t p = 0; p < kc; p++) {
    __m256 b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) b[v] = _mm256_load_ps(bp + p * NR + v * 8);
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++) {
      const __m256 x = _mm256_broadcast_ss(AROW ? a + r * lda + p : a + p * lda + r);
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) acc[r][v] = _mm256_fmadd_ps(x, b[v], acc[r][v]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
      float* d = c + r * ldc + v * 8;
      _mm256_storeu_ps(d, load_c ? _mm256_add_ps(acc[r][v], _mm256_loadu_ps(d)) : acc[r][v]);
    }
}

// Transposes the 8 × 8 block r (row i in r[i]) in place.
inline void transpose8(__m256 r[8]) {
  __m256 t[8], u[8];
#pragma GCC unroll 4
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
#pragma GCC unroll 2
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
  }
#pragma GCC unroll 4
  for (int i = 0; i < 4; i++) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}

inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load8(const uint16_t* p) { return (__m256)load(p); }

// See gemm_driver.inc for the contract. 8 × 8 blocks through registers; a k tail shorter than 8
// goes through the portable loop.
template <int W, class T>
void pack_rows_transposed(const T* src, int64_t stride, int64_t rows, int64_t kc, float* dst) {
  const int64_t kfull = kc / 8 * 8;
  for (int g = 0; g < W; g += 8) {
    const int width = std::min(8, W - g);
    const int live = static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(width, rows - g)));
    const __m256i lanes = _mm256_cmpgt_epi32(_mm256_set1_epi32(width), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    for (int64_t p = 0; p < kfull; p += 8) {
      __m256 r[8];
#pragma GCC unroll 8
      for (int i = 0; i < 8; i++) r[i] = i < live ? load8(src + (g + i) * stride + p) : _mm256_setzero_ps();
      transpose8(r);
#pragma GCC unroll 8
      for (int q = 0; q < 8; q++) {
        if (width == 8)
          _mm256_storeu_ps(dst + (p + q) * W + g, r[q]);
        else
          _mm256_maskstore_ps(dst + (p + q) * W + g, lanes, r[q]);
      }
    }
  }
  if (kfull < kc) generic_pack_rows_transposed<W>(src + kfull, stride, rows, kc - kfull, dst + kfull * W);
}

}  // namespace

#include "impl/gemm_driver.inc"

}  // namespace avx2
}  // namespace whet
