// GEMM for AVX-512: a 14 × 32 register tile (28 zmm accumulators) and 16 × 16 in-register transposes for packing;
// with AVX512_BF16, bf16 B multiplies A rounded to bf16 on vdpbf16ps (same tile, k in pairs; see gemm.h).
// GCC 12 reports the _mm512_undefined_*() pass-through inside many AVX-512 intrinsics as uninitialised.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "gemm.h"
#include "isa.h"
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

// ---- bf16 B on AVX512_BF16 (see gemm.h for the precision contract) ----
// Only these functions may use the BF16 instructions: the rest of the unit must run on AVX-512 CPUs
// without them, so the target is widened here rather than for the whole unit. Entered only when
// bf16_dot_enabled() (isa.h) says the CPU has them.
#pragma GCC push_options
#pragma GCC target("avx512bf16")

#define WHET_GEMM_BF16 1

namespace {

// Packed operands hold k in pairs: one 32-bit word = element 2p (low half) and 2p + 1 (high half) as
// bf16, what vdpbf16ps multiplies lane by lane. A 768-long k block (384 pairs) keeps the 14 × 768
// A micro-panel (21 KiB) in L1; a B block of 256 Ki words (1 MiB) sits in L2.
constexpr int64_t kKC16 = 768, kBlockWords = 256 << 10;

// One MR × NV·16 tile of C = (load_c ? C : 0) + Σ_p a[p·MR + r] · bp[p·NR + j] over kp pairs.
template <int MR, int NV>
inline void ukr_bf16(int64_t kp, const uint32_t* a, const uint32_t* bp, float* c, int64_t ldc, bool load_c) {
  constexpr int NR = NV * 16;
  __m512 acc[MR][NV];
#pragma GCC unroll 32
  for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();
#pragma GCC unroll 32
  for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + v * 16), _MM_HINT_T0);
#pragma GCC unroll 2
  for (int64_t p = 0; p < kp; p++) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) _mm_prefetch(reinterpret_cast<const char*>(bp + (p + kPrefetchB) * NR + v * 16), _MM_HINT_T0);
    __m512bh b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) b[v] = (__m512bh)_mm512_load_si512(bp + p * NR + v * 16);
#pragma GCC unroll 32
    for (int r = 0; r < MR; r++) {
      const __m512bh x = (__m512bh)_mm512_set1_epi32(static_cast<int>(a[p * MR + r]));
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], x, b[v]);
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

inline __m512 as_ps(__m512i v) { return _mm512_castsi512_ps(v); }
// Masks of the first n lanes (all of them from 32 / 16 on, none for n ≤ 0).
inline __mmask32 first_n32(int64_t n) { return n >= 32 ? ~__mmask32(0) : n <= 0 ? 0 : (__mmask32(1) << n) - 1; }
inline __mmask16 first_n16(int64_t n) { return n >= 16 ? __mmask16(0xffff) : n <= 0 ? 0 : static_cast<__mmask16>((1u << n) - 1); }

// 32 floats at p (the first n; 0 past them) rounded to bf16 (nearest even), in order.
inline __m512i round32(const float* p, int64_t n) {
  const __m512 lo = _mm512_maskz_loadu_ps(first_n16(n), p);
  const __m512 hi = _mm512_maskz_loadu_ps(first_n16(n - 16), p + 16);
  return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

// Packs the mc × kc block of A (float; A(i, p) = a[i·ars + p·acs]) into MR-row panels of pairs, panel
// q at dst + q·MR·kp (kp = ⌈kc / 2⌉) holding dst[p·MR + r] = bf16 A(q·MR + r, 2p) | bf16 A(·, 2p + 1) << 16,
// zero past kc and past mc.
template <int MR>
void pack_a_bf16(const float* a, int64_t ars, int64_t acs, int64_t mc, int64_t kc, uint32_t* dst) {
  static_assert(MR <= 16, "one 16 × 16 transpose per panel");
  const int64_t kp = (kc + 1) / 2;
  const __mmask16 store_mask = static_cast<__mmask16>((1u << MR) - 1);
  for (int64_t i = 0; i < mc; i += MR, dst += MR * kp) {
    const int64_t mr = std::min<int64_t>(MR, mc - i);
    const float* src = a + i * ars;
    if (acs == 1) {  // rows along k: 16 rows × 32 elements rounded, then a 16 × 16 word transpose
      for (int64_t p = 0; p < kc; p += 32) {
        const int64_t np = std::min<int64_t>(32, kc - p);
        __m512 r[16];
#pragma GCC unroll 16
        for (int q = 0; q < 16; q++) r[q] = q < mr ? as_ps(round32(src + q * ars + p, np)) : _mm512_setzero_ps();
        transpose16(r);
        const int64_t nw = (np + 1) / 2;
#pragma GCC unroll 16
        for (int q = 0; q < 16; q++)
          if (q < nw) _mm512_mask_storeu_ps(reinterpret_cast<float*>(dst + (p / 2 + q) * MR), store_mask, r[q]);
      }
    } else {  // rows along m (A stored k × m): two k rows rounded together, their elements interleaved
      const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7,
                                                  22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
      const __mmask16 live = first_n16(mr);
      for (int64_t p = 0; p < kp; p++) {
        const __m512 even = _mm512_maskz_loadu_ps(live, src + 2 * p * acs);
        const __m512 odd = 2 * p + 1 < kc ? _mm512_maskz_loadu_ps(live, src + (2 * p + 1) * acs) : _mm512_setzero_ps();
        const __m512i w = _mm512_permutexvar_epi16(interleave, (__m512i)_mm512_cvtne2ps_pbh(odd, even));
        _mm512_mask_storeu_epi32(dst + p * MR, store_mask, w);
      }
    }
  }
}

// Packs the kc × nc block of B (bf16 bits; B(p, j) = b[p·brs + j·bcs]) into NR-column panels of pairs,
// panel q at dst + q·NR·kp holding dst[p·NR + j] = B(2p, q·NR + j) | B(2p + 1, ·) << 16, zero past kc and nc.
template <int NR>
void pack_b_bf16(const uint16_t* b, int64_t brs, int64_t bcs, int64_t kc, int64_t nc, uint32_t* dst) {
  const int64_t kp = (kc + 1) / 2;
  for (int64_t j = 0; j < nc; j += NR, dst += NR * kp) {
    const int64_t nr = std::min<int64_t>(NR, nc - j);
    const uint16_t* src = b + j * bcs;
    if (bcs == 1) {  // B stored k × n: rows 2p and 2p + 1 interleaved
      for (int64_t p = 0; p < kp; p++) {
        const uint16_t* even = src + 2 * p * brs;
        const bool has_odd = 2 * p + 1 < kc;
        uint32_t* d = dst + p * NR;
        for (int g = 0; g < NR; g += 16) {
          const __mmask16 m = first_n16(nr - g);
          const __m512i lo = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, even + g));
          const __m512i hi = has_odd ? _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, even + brs + g)) : _mm512_setzero_si512();
          _mm512_store_si512(d + g, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
        }
      }
    } else {  // B stored n × k: a row's consecutive pairs already are the words; 16 × 16 word transposes
      for (int g = 0; g < NR; g += 16) {
        const int64_t live = std::max<int64_t>(0, std::min<int64_t>(16, nr - g));
        for (int64_t p = 0; p < kc; p += 32) {
          const int64_t np = std::min<int64_t>(32, kc - p);
          const __mmask32 m = first_n32(np);
          __m512 r[16];
#pragma GCC unroll 16
          for (int q = 0; q < 16; q++)
            r[q] = q < live ? as_ps(_mm512_maskz_loadu_epi16(m, src + (g + q) * bcs + p)) : _mm512_setzero_ps();
          transpose16(r);
          const int64_t nw = (np + 1) / 2;
#pragma GCC unroll 16
          for (int q = 0; q < 16; q++)
            if (q < nw) _mm512_store_ps(reinterpret_cast<float*>(dst + (p / 2 + q) * NR + g), r[q]);
        }
      }
    }
  }
}

// Rows of A (m × k; A(i, p) = a[i·ars + p·acs]) rounded to bf16 pairs, row i at dst + i·kw words (kw ≥
// ⌈k / 2⌉, a multiple of 16), zero past k: dot_kernel_bf16's operand.
void round_rows_bf16(const float* a, int64_t ars, int64_t acs, int64_t m, int64_t k, uint32_t* dst, int64_t kw) {
  for (int64_t i = 0; i < m; i++) {
    uint32_t* d = dst + i * kw;
    if (acs == 1) {
      for (int64_t p = 0; p < 2 * kw; p += 32) _mm512_storeu_si512(d + p / 2, round32(a + i * ars + p, k - p));
    } else {
      alignas(64) float row[32];
      for (int64_t p = 0; p < 2 * kw; p += 32) {
        for (int q = 0; q < 32; q++) row[q] = p + q < k ? a[i * ars + (p + q) * acs] : 0.f;
        _mm512_storeu_si512(d + p / 2, round32(row, 32));
      }
    }
  }
}

// The sums of a, b, c and d, in that order.
inline __m128 hsum4(__m512 a, __m512 b, __m512 c, __m512 d) {
  const __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xee));
  const __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, 0x44), _mm512_shuffle_f32x4(c, d, 0xee));
  __m512 s = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, 0x88), _mm512_shuffle_f32x4(ab, cd, 0xdd));  // a, b, c, d quarters
  s = _mm512_add_ps(s, _mm512_permute_ps(s, 0x4e));
  s = _mm512_add_ps(s, _mm512_permute_ps(s, 0xb1));
  return _mm512_castps512_ps128(_mm512_permutexvar_ps(_mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 8, 4, 0), s));
}

// C(i, j) (+)= A(i, ·)·B(j, ·) for i < M, j < NB, on vdpbf16ps with B read where it lies: a holds M rows
// of round_rows_bf16 (kw words apart), b NB rows of bf16 k apart. 32 elements a step: M + NB loads
// feed M·NB products. With pf, each step also prefetches B's line pf elements further on (not past pf_end).
template <int M, int NB>
inline void dot_kernel_bf16(const uint32_t* a, int64_t kw, const uint16_t* b, int64_t k, float* c, int64_t ldc, bool acc,
                            int64_t pf, const char* pf_end) {
  static_assert(NB >= 1 && NB <= 4 && M * NB + NB + 1 <= 32, "accumulators and operands in 32 registers");
  __m512 s[M][4];
#pragma GCC unroll 8
  for (int i = 0; i < M; i++)
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++) s[i][q] = _mm512_setzero_ps();
  for (int64_t p = 0; p < k; p += 32) {
    const __mmask32 live = first_n32(k - p);  // the tail of B masked (A is zero there already)
    if (pf != 0)
#pragma GCC unroll 4
      for (int q = 0; q < NB; q++) _mm_prefetch(std::min(reinterpret_cast<const char*>(b + q * k + p + pf), pf_end), _MM_HINT_T0);
    __m512bh w[NB];
#pragma GCC unroll 4
    for (int q = 0; q < NB; q++) w[q] = (__m512bh)_mm512_maskz_loadu_epi16(live, b + q * k + p);
#pragma GCC unroll 8
    for (int i = 0; i < M; i++) {
      const __m512bh x = (__m512bh)_mm512_loadu_si512(a + i * kw + p / 2);
#pragma GCC unroll 4
      for (int q = 0; q < NB; q++) s[i][q] = _mm512_dpbf16_ps(s[i][q], x, w[q]);
    }
  }
  const __mmask8 out = static_cast<__mmask8>((1u << NB) - 1);
#pragma GCC unroll 8
  for (int i = 0; i < M; i++) {
    float* d = c + i * ldc;
    const __m128 t = hsum4(s[i][0], s[i][1], s[i][2], s[i][3]);
    _mm_mask_storeu_ps(d, out, acc ? _mm_add_ps(t, _mm_maskz_loadu_ps(out, d)) : t);
  }
}

// Rows [0, M) × B rows [j0, j1) of C = A·Bᵀ on vdpbf16ps (see dot_kernel_bf16 for pf and pf_end).
template <int M>
void dot_rows_bf16(const uint32_t* a, int64_t kw, const uint16_t* b, int64_t k, int64_t j0, int64_t j1, float* c,
                   int64_t ldc, bool acc, int64_t pf, const char* pf_end) {
  constexpr int NB = M * 4 + 5 <= 32 ? 4 : 3;
  int64_t j = j0;
  for (; j + NB <= j1; j += NB) dot_kernel_bf16<M, NB>(a, kw, b + j * k, k, c + j, ldc, acc, pf, pf_end);
  for (; j < j1; j++) dot_kernel_bf16<M, 1>(a, kw, b + j * k, k, c + j, ldc, acc, pf, pf_end);
}

// One row of B (k bf16 at w) times M rows of A (bf16 pairs, kw words apart) into s[0..M): each line of B is
// loaded once for all M; two accumulators a row over alternate 32-element steps (covering vdpbf16ps latency).
template <int M>
inline void row_dot_bf16(const uint32_t* const (&a)[M], const uint16_t* w, int64_t k, __m512 (&s)[M]) {
  __m512 s0[M], s1[M];
  for (int i = 0; i < M; i++) s0[i] = s1[i] = _mm512_setzero_ps();
  int64_t p = 0;
  for (; p + 64 <= k; p += 64) {
    prefetch_nta(w + p);
    prefetch_nta(w + p + 32);
    const __m512bh w0 = (__m512bh)_mm512_loadu_si512(w + p), w1 = (__m512bh)_mm512_loadu_si512(w + p + 32);
#pragma GCC unroll 8
    for (int i = 0; i < M; i++) {
      s0[i] = _mm512_dpbf16_ps(s0[i], (__m512bh)_mm512_loadu_si512(a[i] + p / 2), w0);
      s1[i] = _mm512_dpbf16_ps(s1[i], (__m512bh)_mm512_loadu_si512(a[i] + p / 2 + 16), w1);
    }
  }
  if (p + 32 <= k) {
    const __m512bh w0 = (__m512bh)_mm512_loadu_si512(w + p);
    for (int i = 0; i < M; i++) s0[i] = _mm512_dpbf16_ps(s0[i], (__m512bh)_mm512_loadu_si512(a[i] + p / 2), w0);
    p += 32;
  }
  if (p < k) {
    const __m512bh w1 = (__m512bh)_mm512_maskz_loadu_epi16(first_n32(k - p), w + p);
    for (int i = 0; i < M; i++) s1[i] = _mm512_dpbf16_ps(s1[i], (__m512bh)_mm512_loadu_si512(a[i] + p / 2), w1);
  }
  for (int i = 0; i < M; i++) s[i] = _mm512_add_ps(s0[i], s1[i]);
}

// C(i, j) (+)= A(i, ·)·B(j, ·) for i < m ≤ M, j in [j0, j1), with A's rows rounded by round_rows_bf16 into `a` (kw
// words apart; rows past m repeat the last, their sums unused) and C's rows ldc apart: decode's y = W·x for a few
// rows. The rows of B are read one after another by one loop, a single stream per thread. Measured on Zen 4, 2
// threads, a 135M model's matrices: 1.2–1.3× the rate of dot_kernel_bf16's rows of B side by side up to m = 4;
// from m = 6 that kernel is faster (each load of A there serves 3–4 rows of B).
template <int M>
inline void gemv_rows_bf16(const uint32_t* a, int64_t kw, int64_t m, const uint16_t* b, int64_t k, int64_t j0, int64_t j1,
                           float* c, int64_t ldc, bool acc) {
  const uint32_t* rows[M];
  for (int i = 0; i < M; i++) rows[i] = a + std::min<int64_t>(i, m - 1) * kw;
  for (int64_t j = j0; j < j1; j++) {
    __m512 s[M];
    row_dot_bf16<M>(rows, b + j * k, k, s);
    for (int i = 0; i < m; i++) {
      const float t = _mm512_reduce_add_ps(s[i]);
      float* d = c + i * ldc + j;
      *d = acc ? *d + t : t;
    }
  }
}

}  // namespace

#pragma GCC pop_options

#include "impl/gemm_driver.inc"

}  // namespace avx512
}  // namespace whet
