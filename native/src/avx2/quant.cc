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

}  // namespace

#include "impl/quant_blocks.inc"

namespace {

constexpr int64_t kPrefetch = 10 << 10;  // bytes of W ahead of the reads (as gemv_rows)

inline void prefetch(const uint8_t* p, const char* end) {
  __builtin_prefetch(std::min(reinterpret_cast<const char*>(p) + kPrefetch, end));
}

inline __m256i loadu256(const void* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
inline __m128i loadu128(const void* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// One 32-block against M activation rows: s = Σ pairs of u·a (u unsigned, a signed), scaled per lane by the
// activation's d and corrected by its −bias·d·Σa, then by the weight's scale.
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

template <int M>
void dot_q8_0(const uint8_t* w, int64_t nb, const ActQ32* a, float* out, const char* pf_end) {
  __m256 acc[M], acc2[M];
  for (int r = 0; r < M; r++) acc[r] = acc2[r] = _mm256_setzero_ps();
  auto block = [&](int64_t b, __m256* ac) {
    const uint8_t* p = w + b * 34;
    const __m256i q = loadu256(p + 2);
    q32_block<M, false>(_mm256_sign_epi8(q, q), q, true, f16_to_f32(load_u16(p)), a, b, ac);
  };
  int64_t b = 0;
  for (; b + 4 <= nb; b += 4) {  // 136 bytes: three lines ahead
    if (pf_end != nullptr)
      for (int l = 0; l < 3; l++) prefetch(w + b * 34 + l * 64, pf_end);
    block(b, acc);
    block(b + 1, acc2);
    block(b + 2, acc);
    block(b + 3, acc2);
  }
  for (; b < nb; b++) block(b, acc);
  for (int r = 0; r < M; r++) out[r] = hsum(_mm256_add_ps(acc[r], acc2[r]));
}

template <int M>
void dot_q4_0(const uint8_t* w, int64_t nb, const ActQ32* a, float* out, const char* pf_end) {
  __m256 acc[M], acc2[M];
  for (int r = 0; r < M; r++) acc[r] = acc2[r] = _mm256_setzero_ps();
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  auto block = [&](int64_t b, __m256* ac) {
    const uint8_t* p = w + b * 18;
    const __m128i x = loadu128(p + 2);
    const __m256i u = _mm256_and_si256(_mm256_inserti128_si256(_mm256_castsi128_si256(x), _mm_srli_epi16(x, 4), 1), low4);
    q32_block<M, true>(u, u, false, f16_to_f32(load_u16(p)), a, b, ac);
  };
  int64_t b = 0;
  for (; b + 4 <= nb; b += 4) {  // 72 bytes: two lines ahead
    if (pf_end != nullptr) {
      prefetch(w + b * 18, pf_end);
      prefetch(w + b * 18 + 64, pf_end);
    }
    block(b, acc);
    block(b + 1, acc2);
    block(b + 2, acc);
    block(b + 3, acc2);
  }
  for (; b < nb; b++) block(b, acc);
  for (int r = 0; r < M; r++) out[r] = hsum(_mm256_add_ps(acc[r], acc2[r]));
}

template <int M>
void dot_q4_K(const uint8_t* w, int64_t nb, const ActQK* a, float* out, const char* pf_end) {
  __m256 acc[M], accm[M];
  for (int r = 0; r < M; r++) acc[r] = accm[r] = _mm256_setzero_ps();
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m128i pair_mins = _mm_set_epi8(15, 15, 14, 14, 13, 13, 12, 12, 11, 11, 10, 10, 9, 9, 8, 8);
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* p = w + b * 144;
    if (pf_end != nullptr) {
      prefetch(p, pf_end);
      prefetch(p + 64, pf_end);
      prefetch(p + 128, pf_end);
    }
    uint32_t u[4];
    std::memcpy(u, p + 4, 12);
    constexpr uint32_t k1 = 0x3f3f3f3f, k2 = 0x0f0f0f0f, k3 = 0x03030303;  // ggml's unpacking: 8 scales, 8 mins
    u[3] = ((u[2] >> 4) & k2) | (((u[1] >> 6) & k3) << 4);
    const uint32_t t1 = u[1] & k1;
    u[1] = (u[2] & k2) | (((u[0] >> 6) & k3) << 4);
    u[2] = t1;
    u[0] &= k1;
    const __m128i sm = loadu128(u);
    const __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));  // sc0..7 as int16, in both halves
    const __m256i mins = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(sm, pair_mins));
    const float d = f16_to_f32(load_u16(p)), dmin = f16_to_f32(load_u16(p + 2));
    __m256i s[M];
    for (int r = 0; r < M; r++) s[r] = _mm256_setzero_si256();
    for (int j = 0; j < 4; j++) {
      const __m256i q = loadu256(p + 16 + 32 * j);
      const __m256i l = _mm256_and_si256(q, low4), h = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
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
      const float da = a[r].d[b];
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[r]), _mm256_set1_ps(d * da), acc[r]);
      const __m256i ms = _mm256_madd_epi16(mins, loadu256(a[r].bsums + b * 16));
      accm[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ms), _mm256_set1_ps(dmin * da), accm[r]);
    }
  }
  for (int r = 0; r < M; r++) out[r] = hsum(acc[r]) - hsum(accm[r]);
}

template <int M>
void dot_q6_K(const uint8_t* w, int64_t nb, const ActQK* a, float* out, const char* pf_end) {
  __m256 acc[M];
  for (int r = 0; r < M; r++) acc[r] = _mm256_setzero_ps();
  const __m256i low4 = _mm256_set1_epi8(0x0F), bits45 = _mm256_set1_epi8(0x30);
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* p = w + b * 210;
    if (pf_end != nullptr)
      for (int l = 0; l < 4; l++) prefetch(p + l * 64, pf_end);
    const __m128i sc8 = loadu128(p + 192);
    const float d = f16_to_f32(load_u16(p + 208));
    __m256i s[M];
    for (int r = 0; r < M; r++) {  // Σ_g sc_g·32·Σa over group g: the −32 of every quant
      const __m256i off = _mm256_madd_epi16(_mm256_cvtepi8_epi16(sc8), loadu256(a[r].bsums + b * 16));
      s[r] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(off, 5));
    }
    for (int h = 0; h < 2; h++) {
      const __m256i ql1 = loadu256(p + 64 * h), ql2 = loadu256(p + 64 * h + 32), qh = loadu256(p + 128 + 32 * h);
      __m256i q[4];
      q[0] = _mm256_or_si256(_mm256_and_si256(ql1, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), bits45));
      q[1] = _mm256_or_si256(_mm256_and_si256(ql2, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), bits45));
      q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4), _mm256_and_si256(qh, bits45));
      q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql2, 4), low4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), bits45));
#pragma GCC unroll 4
      for (int v = 0; v < 4; v++) {
        const int g = 8 * h + 2 * v;  // this vector's two 16-groups: scales g and g + 1, 8 lanes each
        const __m128i pick = _mm_set_epi64x(0x0101010101010101LL * (g + 1), 0x0101010101010101LL * g);
        const __m256i scv = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8, pick));
#pragma GCC unroll 4
        for (int r = 0; r < M; r++)
          s[r] = _mm256_add_epi32(s[r], _mm256_madd_epi16(_mm256_maddubs_epi16(q[v], loadu256(a[r].qs + b * 256 + 128 * h + 32 * v)), scv));
      }
    }
#pragma GCC unroll 4
    for (int r = 0; r < M; r++) acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[r]), _mm256_set1_ps(d * a[r].d[b]), acc[r]);
  }
  for (int r = 0; r < M; r++) out[r] = hsum(acc[r]);
}

}  // namespace

#include "impl/quant_driver.inc"

}  // namespace avx2
}  // namespace whet
