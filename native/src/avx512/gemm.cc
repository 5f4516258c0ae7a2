// GEMM for AVX-512: a 14 × 32 register tile (28 zmm accumulators) and 16 × 16 in-register transposes for packing.
// GCC 12 reports the _mm512_undefined_*() pass-through inside many AVX-512 intrinsics as uninitialised.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "gemm.h"
#include "threadpool.h"

#define WHET_VW 16

namespace whet {
namespace avx512 {

#include "impl/gemm_common.inc"

namespace {

inline vf load(const uint16_t* p) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return (vf)_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// 14 × 32: 28 accumulators + 2 B vectors + 1 broadcast = 31 of 32 zmm; per k step 2 loads and
// 14 broadcasts feed 28 FMAs, within the two load ports. A 384-long k block keeps the 14 × 384
// A micro-panel (21 KiB) in L1, a B block of 256 Ki floats (1 MiB) sits in L2.
constexpr int kMR = 14, kNV = 2, kMRs = 14;
constexpr int64_t kKC = 384, kBlockFloats = 256 << 10;
constexpr int64_t kPrefetchB = 8;  // k steps ahead: B streams from L2, and L1's own prefetcher only fetches the next line

template <int MR, int NV, bool AROW>
inline void ukr(int64_t kc, const float* a, int64_t lda, const float* bp, float* c, int64_t ldc, bool load_c) {
  constexpr int NR = NV * 16;
  __m512 acc[MR][NV];
#pragma GCC unroll 32
  for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();
  // C is only touched after the k loop: start fetching it now so the final loads do not wait.
#pragma GCC unroll 32
  for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + v * 16), _MM_HINT_T0);
#pragma GCC unroll 4
  for (int64_t p = 0; p < kc; p++) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) _mm_prefetch(reinterpret_cast<const char*>(bp + (p + kPrefetchB) * NR + v * 16), _MM_HINT_T0);
    __m512 b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) b[v] = _mm512_load_ps(bp + p * NR + v * 16);
#pragma GCC unroll 32
    for (int r = 0; r < MR; r++) {
      const __m512 x = _mm512_set1_ps(AROW ? a[r * lda + p] : a[p * lda + r]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(x, b[v], acc[r][v]);
    }
  }
#pragma GCC unroll 32
  for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
      float* d = c + r * ldc + v * 16;
      _mm512_storeu_ps(d, load_c ? _mm512_add_ps(acc[r][v], _mm512_loadu_ps(d)) : acc[r][v]);
    }
}

// Transposes the 16 × 16 block r (row i in r[i]) in place: four rounds of 16 shuffles.
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
#pragma GCC unroll 8
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
#pragma GCC unroll 4
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
    r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
    r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
  }
#pragma GCC unroll 2
  for (int h = 0; h < 16; h += 8)
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
      t[h + i] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0x88);
      t[h + i + 4] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0xdd);
    }
#pragma GCC unroll 8
  for (int i = 0; i < 8; i++) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
  }
}

inline __m512 load16(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
inline __m512 load16(const uint16_t* p, __mmask16 m) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
}

// See gemm_driver.inc for the contract. 16 × 16 blocks through registers: rows are read and
// panel rows written whole, instead of one float at a time.
template <int W, class T>
void pack_rows_transposed(const T* src, int64_t stride, int64_t rows, int64_t kc, float* dst) {
  for (int g = 0; g < W; g += 16) {
    const int width = std::min(16, W - g);
    const int live = static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(width, rows - g)));
    const __mmask16 store_mask = static_cast<__mmask16>((1u << width) - 1);
    for (int64_t p = 0; p < kc; p += 16) {
      const int np = static_cast<int>(std::min<int64_t>(16, kc - p));
      const __mmask16 load_mask = static_cast<__mmask16>((1u << np) - 1);
      __m512 r[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; i++) r[i] = i < live ? load16(src + (g + i) * stride + p, load_mask) : _mm512_setzero_ps();
      transpose16(r);
#pragma GCC unroll 16
      for (int q = 0; q < 16; q++)
        if (q < np) _mm512_mask_storeu_ps(dst + (p + q) * W + g, store_mask, r[q]);
    }
  }
}

}  // namespace

#include "impl/gemm_driver.inc"

}  // namespace avx512
}  // namespace whet
