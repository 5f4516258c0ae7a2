// Quantised products for AVX-512 with VNNI: 64-byte integer dot products (vpdpbusd, vpmaddubsw + vpdpwssd).
// Only dispatched to when the CPU has AVX512_VNNI (quant.cc); this file alone is compiled for it.
// GCC 12 reports the _mm512_undefined_*() pass-through inside many AVX-512 intrinsics as uninitialised.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "gemm.h"
#include "quant.h"
#include "threadpool.h"

#pragma GCC target("avx512vnni")
#include <immintrin.h>

namespace whet {
namespace avx512 {
namespace {

inline float f16_to_f32(uint16_t h) { return _cvtsh_ss(h); }

constexpr float kQ8Bias = 128.f;  // Q8_0 quants enter vpdpbusd as unsigned q + 128
constexpr float kQ4Bias = 8.f;    // Q4_0 nibbles enter it as they are (the value is nibble − 8)
constexpr bool kQ4KInterleave = true;
constexpr int64_t kMaxRows = 8;  // rows of A per pass over a W row: 8 accumulators (of 32 registers)

}  // namespace

#include "impl/quant_blocks.inc"
#include "impl/quant_x86.inc"

namespace {

// Two f16 scales `stride` bytes apart as 16 lanes: the first in lanes 0–7, the second in 8–15.
inline __m512 scale_pair(const uint8_t* p, int64_t stride) {
  const uint32_t h = load_u16(p) | (uint32_t(load_u16(p + stride)) << 16);
  const __m128 f = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(h)));
  const __m512i idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(f));
}

// One pair of 32-blocks (16 int32 lanes, 8 per block) against M activation rows at block b.
template <int M>
inline void q32_pair(__m512i wv, __m512 dw, const ActQ32* a, int64_t b, __m512* acc) {
#pragma GCC unroll 8
  for (int r = 0; r < M; r++) {
    const __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv, _mm512_loadu_si512(a[r].qs + b * 32));
    const __m512 t = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_loadu_ps(a[r].d8 + b * 8), _mm512_loadu_ps(a[r].corr8 + b * 8));
    acc[r] = _mm512_fmadd_ps(t, dw, acc[r]);
  }
}

// The last, unpaired 32-block (8 lanes, added to the low half of acc).
template <int M>
inline void q32_single(__m256i wv, float dw, const ActQ32* a, int64_t b, __m512* acc) {
#pragma GCC unroll 8
  for (int r = 0; r < M; r++) {
    const __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), wv, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[r].qs + b * 32)));
    const __m256 t = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_loadu_ps(a[r].d8 + b * 8), _mm256_loadu_ps(a[r].corr8 + b * 8));
    acc[r] = _mm512_add_ps(acc[r], _mm512_insertf32x8(_mm512_setzero_ps(), _mm256_mul_ps(t, _mm256_set1_ps(dw)), 0));
  }
}

// out[q·M + r] = Σ lanes of acc[q][r].
template <int M, int R>
inline void reduce_out(__m512 (&acc)[R][M], float* out) {
  for (int q = 0; q < R; q++)
    for (int r = 0; r < M; r++) out[q * M + r] = _mm512_reduce_add_ps(acc[q][r]);
}

// The Q8_0/Q4_0 loop: blocks in pairs, four pairs (and R rows) per step with every line of the step prefetched;
// load(p) turns the pair of blocks at p into 64 unsigned bytes in the activations' order.
template <int M, int R, int64_t kBytes, class Load>
inline void q32_rows(const uint8_t* w, int64_t rb, int64_t nb, const ActQ32* a, float* out, const char* pf_end,
                     const Load& load, __m256i (*load_one)(const uint8_t*)) {
  __m512 acc[R][M];
  for (int q = 0; q < R; q++)
    for (int r = 0; r < M; r++) acc[q][r] = _mm512_setzero_ps();
  int64_t b = 0;
  for (; b + 8 <= nb; b += 8) {
#pragma GCC unroll 4
    for (int q = 0; q < R; q++)
      if (pf_end != nullptr)
        prefetch(w + q * rb + b * kBytes, 8 * kBytes, pf_end);
#pragma GCC unroll 4
    for (int u = 0; u < 8; u += 2)
#pragma GCC unroll 4
      for (int q = 0; q < R; q++) {
        const uint8_t* p = w + q * rb + (b + u) * kBytes;
        q32_pair<M>(load(p), scale_pair(p, kBytes), a, b + u, acc[q]);
      }
  }
  for (; b + 2 <= nb; b += 2)
    for (int q = 0; q < R; q++) {
      const uint8_t* p = w + q * rb + b * kBytes;
      q32_pair<M>(load(p), scale_pair(p, kBytes), a, b, acc[q]);
    }
  if (b < nb)
    for (int q = 0; q < R; q++) {
      const uint8_t* p = w + q * rb + b * kBytes;
      q32_single<M>(load_one(p), f16_to_f32(load_u16(p)), a, b, acc[q]);
    }
  reduce_out<M, R>(acc, out);
}

// Q8_0: the quants as unsigned q + 128 (xor 0x80); the activation's corr8 takes the 128·Σa back out.
inline __m512i load_q8_0_pair(const uint8_t* p) {
  return _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(loadu256(p + 2)), loadu256(p + 36), 1), _mm512_set1_epi8(-128));
}
inline __m256i load_q8_0_one(const uint8_t* p) { return _mm256_xor_si256(loadu256(p + 2), _mm256_set1_epi8(-128)); }

// Q4_0: blocks b and b+1 as [lo nibbles of b, hi of b, lo of b+1, hi of b+1] (elements 0–15, 16–31 of each).
inline __m512i load_q4_0_pair(const uint8_t* p) {
  constexpr long long k4 = 0x0004000400040004;  // shift count 4 in each 16-bit lane of quarters 1 and 3
  const __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_broadcastsi128_si256(loadu128(p + 2))),
                                       _mm256_broadcastsi128_si256(loadu128(p + 20)), 1);
  return _mm512_and_si512(_mm512_srlv_epi16(q, _mm512_set_epi64(k4, k4, 0, 0, k4, k4, 0, 0)), _mm512_set1_epi8(0x0F));
}
inline __m256i load_q4_0_one(const uint8_t* p) {
  const __m128i x = loadu128(p + 2);
  return _mm256_and_si256(_mm256_inserti128_si256(_mm256_castsi128_si256(x), _mm_srli_epi16(x, 4), 1), _mm256_set1_epi8(0x0F));
}

// out[q·M + r] = Σ over nb blocks of W row q (rows rb bytes apart from w) times activation row r.
template <int M, int R>
void dot_q8_0(const uint8_t* w, int64_t rb, int64_t nb, const ActQ32* a, float* out, const char* pf_end) {
  q32_rows<M, R, 34>(w, rb, nb, a, out, pf_end, load_q8_0_pair, load_q8_0_one);
}

template <int M, int R>
void dot_q4_0(const uint8_t* w, int64_t rb, int64_t nb, const ActQ32* a, float* out, const char* pf_end) {
  q32_rows<M, R, 18>(w, rb, nb, a, out, pf_end, load_q4_0_pair, load_q4_0_one);
}

// Q4_K: per block, Σ_j sc_j·Σ q·a in int32 (vpmaddubsw, then vpdpwssd with the sub-block's scale per 16-bit
// lane), then d·da on the sum and dmin·da on Σ_j m_j·(sums of a's sub-block j), in the same accumulator
// (lanes 0–7 of the mins' term subtracted).
template <int M, int R>
void dot_q4_K(const uint8_t* w, int64_t rb, int64_t nb, const ActQK* a, float* out, const char* pf_end) {
  __m512 acc[R][M];
  for (int q = 0; q < R; q++)
    for (int r = 0; r < M; r++) acc[q][r] = _mm512_setzero_ps();
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  // 16-bit lane → scale index for the four quant vectors (two sub-blocks each, see kQ4KInterleave).
  const __m512i ilo0 = _mm512_set_epi64(0x0002000200020002, 0x0002000200020002, 0x0002000200020002, 0x0002000200020002, 0, 0, 0, 0);
  const __m512i ihi0 = _mm512_add_epi16(ilo0, _mm512_set1_epi16(1));
  const __m512i ilo1 = _mm512_add_epi16(ilo0, _mm512_set1_epi16(4));
  const __m512i ihi1 = _mm512_add_epi16(ilo0, _mm512_set1_epi16(5));
  const __m256i imin = _mm256_set_epi16(15, 15, 14, 14, 13, 13, 12, 12, 11, 11, 10, 10, 9, 9, 8, 8);
  for (int64_t b = 0; b < nb; b++) {
#pragma GCC unroll 4
    for (int q = 0; q < R; q++) {
      const uint8_t* p = w + q * rb + b * 144;
      if (pf_end != nullptr) prefetch(p, 144, pf_end);
      const __m256i sm = _mm256_cvtepu8_epi16(q4k_scales_mins(p + 4));  // sc0..7, m0..7
      const __m512i sm5 = _mm512_castsi256_si512(sm);
      const __m512i slo0 = _mm512_permutexvar_epi16(ilo0, sm5), shi0 = _mm512_permutexvar_epi16(ihi0, sm5);
      const __m512i slo1 = _mm512_permutexvar_epi16(ilo1, sm5), shi1 = _mm512_permutexvar_epi16(ihi1, sm5);
      const __m256i mins = _mm256_permutexvar_epi16(imin, sm);
      const __m512i q0 = _mm512_loadu_si512(p + 16), q1 = _mm512_loadu_si512(p + 80);
      const __m512i l0 = _mm512_and_si512(q0, low4), h0 = _mm512_and_si512(_mm512_srli_epi16(q0, 4), low4);
      const __m512i l1 = _mm512_and_si512(q1, low4), h1 = _mm512_and_si512(_mm512_srli_epi16(q1, 4), low4);
      const __m128 dd = _mm_cvtph_ps(_mm_cvtsi32_si128(load_i32(p)));  // d, dmin
#pragma GCC unroll 8
      for (int r = 0; r < M; r++) {
        const int8_t* aq = a[r].qs + b * 256;
        __m512i s = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_maddubs_epi16(l0, _mm512_loadu_si512(aq)), slo0);
        s = _mm512_dpwssd_epi32(s, _mm512_maddubs_epi16(h0, _mm512_loadu_si512(aq + 64)), shi0);
        s = _mm512_dpwssd_epi32(s, _mm512_maddubs_epi16(l1, _mm512_loadu_si512(aq + 128)), slo1);
        s = _mm512_dpwssd_epi32(s, _mm512_maddubs_epi16(h1, _mm512_loadu_si512(aq + 192)), shi1);
        const __m128 f = _mm_mul_ps(dd, _mm_set1_ps(a[r].d[b]));  // d·da, dmin·da
        const __m256i ms = _mm256_madd_epi16(mins, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[r].bsums + b * 16)));
        acc[q][r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_broadcastss_ps(f), acc[q][r]);
        const __m512 fm = _mm512_permutexvar_ps(_mm512_set1_epi32(1), _mm512_castps128_ps512(f));
        acc[q][r] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(_mm512_zextsi256_si512(ms)), fm, acc[q][r]);
      }
    }
  }
  reduce_out<M, R>(acc, out);
}

// Q6_K: quants rebuilt from 4 low + 2 high bits as unsigned 0..63 (the −32 folded in through the sums of a),
// then the same vpmaddubsw + vpdpwssd with each 16-group's signed scale.
template <int M, int R>
void dot_q6_K(const uint8_t* w, int64_t rb, int64_t nb, const ActQK* a, float* out, const char* pf_end) {
  __m512 acc[R][M];
  for (int q = 0; q < R; q++)
    for (int r = 0; r < M; r++) acc[q][r] = _mm512_setzero_ps();
  const __m512i low4 = _mm512_set1_epi8(0x0F), bits45 = _mm512_set1_epi8(0x30);
  // 16-bit lane t of a quant vector covers elements 2t, 2t+1: group t / 8 of the vector's four.
  const __m512i ig = _mm512_set_epi64(0x0003000300030003, 0x0003000300030003, 0x0002000200020002, 0x0002000200020002,
                                      0x0001000100010001, 0x0001000100010001, 0, 0);
  for (int64_t b = 0; b < nb; b++) {
#pragma GCC unroll 4
    for (int q = 0; q < R; q++) {
      const uint8_t* p = w + q * rb + b * 210;
      if (pf_end != nullptr)
        prefetch(p, 210, pf_end);
      const __m256i sc = _mm256_cvtepi8_epi16(loadu128(p + 192));
      const __m512i sc5 = _mm512_castsi256_si512(sc);
      __m512i qv[4], sv[4];
      for (int h = 0; h < 2; h++) {
        const __m512i ql = _mm512_loadu_si512(p + h * 64);
        const __m256i qh = loadu256(p + 128 + h * 32);
        const __m512i qhv = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
        qv[2 * h] = _mm512_or_si512(_mm512_and_si512(ql, low4), _mm512_and_si512(_mm512_slli_epi16(qhv, 4), bits45));
        qv[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), low4), _mm512_and_si512(qhv, bits45));
        sv[2 * h] = _mm512_permutexvar_epi16(_mm512_add_epi16(ig, _mm512_set1_epi16(static_cast<short>(8 * h))), sc5);
        sv[2 * h + 1] = _mm512_permutexvar_epi16(_mm512_add_epi16(ig, _mm512_set1_epi16(static_cast<short>(8 * h + 4))), sc5);
      }
      const float d = f16_to_f32(load_u16(p + 208));
#pragma GCC unroll 8
      for (int r = 0; r < M; r++) {
        const int8_t* aq = a[r].qs + b * 256;
        // Σ_g sc_g·32·Σa over the group: the −32 of every quant.
        const __m256i off = _mm256_madd_epi16(sc, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[r].bsums + b * 16)));
        __m512i t = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_zextsi256_si512(_mm256_slli_epi32(off, 5)));
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) t = _mm512_dpwssd_epi32(t, _mm512_maddubs_epi16(qv[v], _mm512_loadu_si512(aq + v * 64)), sv[v]);
        acc[q][r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(t), _mm512_set1_ps(d * a[r].d[b]), acc[q][r]);
      }
    }
  }
  reduce_out<M, R>(acc, out);
}

}  // namespace

#include "impl/quant_driver.inc"

}  // namespace avx512
}  // namespace whet
