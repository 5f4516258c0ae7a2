// Quantised products for AVX2: 32-byte integer dot products (vpmaddubsw + vpmaddwd), one block per vector.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "gemm.h"
#include "quant.h"
#include "threadpool.h"

namespace whet {
namespace avx2 {
namespace {

inline float f16_to_f32(uint16_t h) { return _cvtsh_ss(h); }

constexpr float kQ8Bias = 0.f;  // Q8_0 multiplies signed quants directly (|w| × sign-adjusted a)
constexpr float kQ4Bias = 8.f;  // Q4_0 nibbles enter vpmaddubsw as they are (the value is nibble − 8)
constexpr bool kQ4KInterleave = false;
constexpr int64_t kMaxRows = 4;  // rows of A per pass over a W row

}  // namespace

#include "impl/quant_blocks.inc"
#include "impl/quant_x86.inc"

namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <int M, int R>
inline void reduce_out(__m256 (&acc)[R][M], float* out) {
  for (int q = 0; q < R; q++)
    for (int r = 0; r < M; r++) out[q * M + r] = hsum(acc[q][r]);
}

// One 32-block against M activation rows: s = Σ pairs of u·a (u unsigned, a signed, or both sign-adjusted), scaled
// per lane by the activation's d (plus its −bias·d·Σa when kCorr), then by the weight's scale.
template <int M, bool kCorr>
inline void q32_block(__m256i u, __m256i sgn, bool sign_trick, float dw, const ActQ32* a, int64_t b, __m256* acc) {
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256 dwv = _mm256_set1_ps(dw);
#pragma GCC unroll 4
  for (int r = 0; r < M; r++) {
    __m256i av = loadu256(a[r].qs + b * 32);
    if (sign_trick) av = _mm256_sign_epi8(av, sgn);
    const __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(u, av), ones);
    __m256 t = _mm256_mul_ps(_mm256_cvtepi32_ps(s), _mm256_loadu_ps(a[r].d8 + b * 8));
    if (kCorr) t = _mm256_add_ps(t, _mm256_loadu_ps(a[r].corr8 + b * 8));
    acc[r] = _mm256_fmadd_ps(t, dwv, acc[r]);
  }
}

// The Q8_0/Q4_0 loop: four blocks (and R rows) per step with every line of the step prefetched.
template <int M, int R, int64_t kBytes, class Block>
inline void q32_rows(const uint8_t* w, int64_t rb, int64_t nb, const ActQ32* a, float* out, const char* pf_end, const Block& block) {
  __m256 acc[R][M];
  for (int q = 0; q < R; q++)
    for (int r = 0; r < M; r++) acc[q][r] = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 4 <= nb; b += 4) {
#pragma GCC unroll 4
    for (int q = 0; q < R; q++)
      if (pf_end != nullptr)
        prefetch(w + q * rb + b * kBytes, 4 * kBytes, pf_end);
#pragma GCC unroll 4
    for (int u = 0; u < 4; u++)
#pragma GCC unroll 4
      for (int q = 0; q < R; q++) block(w + q * rb + (b + u) * kBytes, b + u, acc[q]);
  }
  for (; b < nb; b++)
    for (int q = 0; q < R; q++) block(w + q * rb + b * kBytes, b, acc[q]);
  reduce_out<M, R>(acc, out);
}

// out[q·M + r] = Σ over nb blocks of W row q (rows rb bytes apart from w) times activation row r.
template <int M, int R>
void dot_q8_0(const uint8_t* w, int64_t rb, int64_t nb, const ActQ32* a, float* out, const char* pf_end) {
  q32_rows<M, R, 34>(w, rb, nb, a, out, pf_end, [&](const uint8_t* p, int64_t b, __m256* acc) {
    const __m256i q = loadu256(p + 2);
    q32_block<M, false>(_mm256_sign_epi8(q, q), q, true, f16_to_f32(load_u16(p)), a, b, acc);
  });
}

template <int M, int R>
void dot_q4_0(const uint8_t* w, int64_t rb, int64_t nb, const ActQ32* a, float* out, const char* pf_end) {
  q32_rows<M, R, 18>(w, rb, nb, a, out, pf_end, [&](const uint8_t* p, int64_t b, __m256* acc) {
    const __m128i x = loadu128(p + 2);
    const __m256i u = _mm256_and_si256(_mm256_inserti128_si256(_mm256_castsi128_si256(x), _mm_srli_epi16(x, 4), 1), _mm256_set1_epi8(0x0F));
    q32_block<M, true>(u, u, false, f16_to_f32(load_u16(p)), a, b, acc);
  });
}

template <int M, int R>
void dot_q4_K(const uint8_t* w, int64_t rb, int64_t nb, const ActQK* a, float* out, const char* pf_end) {
  __m256 acc[R][M];
  for (int q = 0; q < R; q++)
    for (int r = 0; r < M; r++) acc[q][r] = _mm256_setzero_ps();
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m128i pair_mins = _mm_set_epi8(15, 15, 14, 14, 13, 13, 12, 12, 11, 11, 10, 10, 9, 9, 8, 8);
  for (int64_t b = 0; b < nb; b++) {
    for (int q = 0; q < R; q++) {
      const uint8_t* p = w + q * rb + b * 144;
      if (pf_end != nullptr) prefetch(p, 144, pf_end);
      const __m128i sm = q4k_scales_mins(p + 4);
      const __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));  // sc0..7 as int16, in both halves
      const __m256i mins = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(sm, pair_mins));
      const __m128 dd = _mm_cvtph_ps(_mm_cvtsi32_si128(load_i32(p)));  // d, dmin
      __m256i s[M];
      for (int r = 0; r < M; r++) s[r] = _mm256_setzero_si256();
      for (int j = 0; j < 4; j++) {
        const __m256i qv = loadu256(p + 16 + 32 * j);
        const __m256i l = _mm256_and_si256(qv, low4), h = _mm256_and_si256(_mm256_srli_epi16(qv, 4), low4);
        const __m256i sl = _mm256_shuffle_epi8(sc, _mm256_set1_epi16(static_cast<short>(0x0100 + 0x0202 * (2 * j))));
        const __m256i sh = _mm256_shuffle_epi8(sc, _mm256_set1_epi16(static_cast<short>(0x0100 + 0x0202 * (2 * j + 1))));
#pragma GCC unroll 4
        for (int r = 0; r < M; r++) {
          const int8_t* aq = a[r].qs + b * 256 + 64 * j;
          s[r] = _mm256_add_epi32(s[r], _mm256_madd_epi16(_mm256_maddubs_epi16(l, loadu256(aq)), sl));
          s[r] = _mm256_add_epi32(s[r], _mm256_madd_epi16(_mm256_maddubs_epi16(h, loadu256(aq + 32)), sh));
        }
      }
#pragma GCC unroll 4
      for (int r = 0; r < M; r++) {
        const __m128 f = _mm_mul_ps(dd, _mm_set1_ps(a[r].d[b]));  // d·da, dmin·da
        const __m256i ms = _mm256_madd_epi16(mins, loadu256(a[r].bsums + b * 16));
        acc[q][r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[r]), _mm256_broadcastss_ps(f), acc[q][r]);
        acc[q][r] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(ms), _mm256_permutevar8x32_ps(_mm256_castps128_ps256(f), _mm256_set1_epi32(1)), acc[q][r]);
      }
    }
  }
  reduce_out<M, R>(acc, out);
}

template <int M, int R>
void dot_q6_K(const uint8_t* w, int64_t rb, int64_t nb, const ActQK* a, float* out, const char* pf_end) {
  __m256 acc[R][M];
  for (int q = 0; q < R; q++)
    for (int r = 0; r < M; r++) acc[q][r] = _mm256_setzero_ps();
  const __m256i low4 = _mm256_set1_epi8(0x0F), bits45 = _mm256_set1_epi8(0x30);
  for (int64_t b = 0; b < nb; b++) {
    for (int q = 0; q < R; q++) {
      const uint8_t* p = w + q * rb + b * 210;
      if (pf_end != nullptr)
        prefetch(p, 210, pf_end);
      const __m128i sc8 = loadu128(p + 192);
      const float d = f16_to_f32(load_u16(p + 208));
      __m256i s[M];
      for (int r = 0; r < M; r++) {  // Σ_g sc_g·32·Σa over group g: the −32 of every quant
        const __m256i off = _mm256_madd_epi16(_mm256_cvtepi8_epi16(sc8), loadu256(a[r].bsums + b * 16));
        s[r] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(off, 5));
      }
      for (int h = 0; h < 2; h++) {
        const __m256i ql1 = loadu256(p + 64 * h), ql2 = loadu256(p + 64 * h + 32), qh = loadu256(p + 128 + 32 * h);
        __m256i qv[4];
        qv[0] = _mm256_or_si256(_mm256_and_si256(ql1, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), bits45));
        qv[1] = _mm256_or_si256(_mm256_and_si256(ql2, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), bits45));
        qv[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4), _mm256_and_si256(qh, bits45));
        qv[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql2, 4), low4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), bits45));
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) {
          const int g = 8 * h + 2 * v;  // this vector's two 16-groups: scales g and g + 1, 8 lanes each
          const __m128i pick = _mm_set_epi64x(0x0101010101010101LL * (g + 1), 0x0101010101010101LL * g);
          const __m256i scv = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8, pick));
#pragma GCC unroll 4
          for (int r = 0; r < M; r++)
            s[r] = _mm256_add_epi32(s[r], _mm256_madd_epi16(_mm256_maddubs_epi16(qv[v], loadu256(a[r].qs + b * 256 + 128 * h + 32 * v)), scv));
        }
      }
#pragma GCC unroll 4
      for (int r = 0; r < M; r++) acc[q][r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[r]), _mm256_set1_ps(d * a[r].d[b]), acc[q][r]);
    }
  }
  reduce_out<M, R>(acc, out);
}

}  // namespace

#include "impl/quant_driver.inc"

}  // namespace avx2
}  // namespace whet
