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

}  // namespace

#include "impl/quant_blocks.inc"

namespace {

constexpr int64_t kPrefetch = 10 << 10;  // bytes of W ahead of the reads (as gemv_rows)

inline void prefetch(const uint8_t* p, const char* end) {
  __builtin_prefetch(std::min(reinterpret_cast<const char*>(p) + kPrefetch, end));
}

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
#pragma GCC unroll 4
  for (int r = 0; r < M; r++) {
    const __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv, _mm512_loadu_si512(a[r].qs + b * 32));
    const __m512 t = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_loadu_ps(a[r].d8 + b * 8), _mm512_loadu_ps(a[r].corr8 + b * 8));
    acc[r] = _mm512_fmadd_ps(t, dw, acc[r]);
  }
}

// The last, unpaired 32-block (8 lanes, added to the low half of acc).
template <int M>
inline void q32_single(__m256i wv, float dw, const ActQ32* a, int64_t b, __m512* acc) {
#pragma GCC unroll 4
  for (int r = 0; r < M; r++) {
    const __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), wv, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[r].qs + b * 32)));
    const __m256 t = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_loadu_ps(a[r].d8 + b * 8), _mm256_loadu_ps(a[r].corr8 + b * 8));
    acc[r] = _mm512_add_ps(acc[r], _mm512_insertf32x8(_mm512_setzero_ps(), _mm256_mul_ps(t, _mm256_set1_ps(dw)), 0));
  }
}

inline int32_t load_i32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Q4_K's 12 packed bytes at s as 16 bytes: the eight 6-bit scales, then the eight mins (ggml's get_scale_min_k4
// for every j, as its x86 kernels unpack them: 32-bit words u0..u2 become u0 & k1, (u2 & k2) | ((u0 >> 6) & k3) << 4,
// u1 & k1, ((u2 >> 4) & k2) | ((u1 >> 6) & k3) << 4, with ((x >> 6) & 3) << 4 = (x >> 2) & 0x30 per byte).
inline __m128i q4k_scales_mins(const uint8_t* s) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s));  // u0 u1 u2 (and 4 bytes of quants)
  const __m128i lo = _mm_and_si128(_mm_srlv_epi32(_mm_shuffle_epi32(v, _MM_SHUFFLE(2, 1, 2, 0)), _mm_set_epi32(4, 0, 0, 0)),
                                   _mm_set_epi32(0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f));
  const __m128i hi = _mm_and_si128(_mm_srli_epi32(_mm_shuffle_epi32(v, _MM_SHUFFLE(1, 1, 0, 0)), 2),
                                   _mm_set_epi32(0x30303030, 0, 0x30303030, 0));
  return _mm_or_si128(lo, hi);
}

inline __m256i loadu256(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
inline __m128i loadu128(const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }

// out[r] = Σ over nb Q8_0 blocks at w of the row's values times activation row r's.
template <int M>
void dot_q8_0(const uint8_t* w, int64_t nb, const ActQ32* a, float* out, const char* pf_end) {
  __m512 acc[M], acc2[M];
  for (int r = 0; r < M; r++) acc[r] = acc2[r] = _mm512_setzero_ps();
  const __m512i flip = _mm512_set1_epi8(-128);
  auto pair = [&](int64_t b, __m512* ac) {
    const uint8_t* p = w + b * 34;
    const __m512i wv = _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(loadu256(p + 2)), loadu256(p + 36), 1), flip);
    q32_pair<M>(wv, scale_pair(p, 34), a, b, ac);
  };
  int64_t b = 0;
  for (; b + 8 <= nb; b += 8) {  // 272 bytes: five lines ahead
    if (pf_end != nullptr)
      for (int l = 0; l < 5; l++) prefetch(w + b * 34 + l * 64, pf_end);
    pair(b, acc);
    pair(b + 2, acc2);
    pair(b + 4, acc);
    pair(b + 6, acc2);
  }
  for (; b + 2 <= nb; b += 2) pair(b, acc);
  if (b < nb) {
    const uint8_t* p = w + b * 34;
    const __m256i wv = _mm256_xor_si256(loadu256(p + 2), _mm256_set1_epi8(-128));
    q32_single<M>(wv, f16_to_f32(load_u16(p)), a, b, acc);
  }
  for (int r = 0; r < M; r++) out[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r], acc2[r]));
}

// Q4_0: each pair of blocks as [lo nibbles of block b, hi of b, lo of b+1, hi of b+1], the activations' order.
template <int M>
void dot_q4_0(const uint8_t* w, int64_t nb, const ActQ32* a, float* out, const char* pf_end) {
  __m512 acc[M], acc2[M];
  for (int r = 0; r < M; r++) acc[r] = acc2[r] = _mm512_setzero_ps();
  constexpr long long k4 = 0x0004000400040004;  // shift count 4 in each 16-bit lane
  const __m512i shift16 = _mm512_set_epi64(k4, k4, 0, 0, k4, k4, 0, 0);  // quarters 1 and 3 take the high nibbles
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  auto pair = [&](int64_t b, __m512* ac) {
    const uint8_t* p = w + b * 18;
    const __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_broadcastsi128_si256(loadu128(p + 2))),
                                         _mm256_broadcastsi128_si256(loadu128(p + 20)), 1);
    const __m512i wv = _mm512_and_si512(_mm512_srlv_epi16(q, shift16), low4);
    q32_pair<M>(wv, scale_pair(p, 18), a, b, ac);
  };
  int64_t b = 0;
  for (; b + 8 <= nb; b += 8) {  // 144 bytes: three lines ahead
    if (pf_end != nullptr)
      for (int l = 0; l < 3; l++) prefetch(w + b * 18 + l * 64, pf_end);
    pair(b, acc);
    pair(b + 2, acc2);
    pair(b + 4, acc);
    pair(b + 6, acc2);
  }
  for (; b + 2 <= nb; b += 2) pair(b, acc);
  if (b < nb) {
    const uint8_t* p = w + b * 18;
    const __m128i x = loadu128(p + 2);
    const __m256i wv = _mm256_and_si256(_mm256_inserti128_si256(_mm256_castsi128_si256(x), _mm_srli_epi16(x, 4), 1), _mm256_set1_epi8(0x0F));
    q32_single<M>(wv, f16_to_f32(load_u16(p)), a, b, acc);
  }
  for (int r = 0; r < M; r++) out[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r], acc2[r]));
}

// Q4_K: per block, Σ_j sc_j·Σ q·a in int32 (vpmaddubsw, then vpdpwssd with the sub-block's scale per 16-bit
// lane), then d·da on the sum and dmin·da on Σ_j m_j·(sums of a's sub-block j).
template <int M>
void dot_q4_K(const uint8_t* w, int64_t nb, const ActQK* a, float* out, const char* pf_end) {
  __m512 acc[M];
  __m256 accm[M];
  for (int r = 0; r < M; r++) {
    acc[r] = _mm512_setzero_ps();
    accm[r] = _mm256_setzero_ps();
  }
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  // 16-bit lane → scale index for the four quant vectors (two sub-blocks each, see kQ4KInterleave).
  const __m512i ilo0 = _mm512_set_epi64(0x0002000200020002, 0x0002000200020002, 0x0002000200020002, 0x0002000200020002, 0, 0, 0, 0);
  const __m512i ihi0 = _mm512_add_epi16(ilo0, _mm512_set1_epi16(1));
  const __m512i ilo1 = _mm512_add_epi16(ilo0, _mm512_set1_epi16(4));
  const __m512i ihi1 = _mm512_add_epi16(ilo0, _mm512_set1_epi16(5));
  const __m256i imin = _mm256_set_epi16(15, 15, 14, 14, 13, 13, 12, 12, 11, 11, 10, 10, 9, 9, 8, 8);
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* p = w + b * 144;
    if (pf_end != nullptr) {
      prefetch(p, pf_end);
      prefetch(p + 64, pf_end);
      prefetch(p + 128, pf_end);
    }
    const __m256i sm = _mm256_cvtepu8_epi16(q4k_scales_mins(p + 4));  // sc0..7, m0..7
    const __m512i sm5 = _mm512_castsi256_si512(sm);
    const __m512i slo0 = _mm512_permutexvar_epi16(ilo0, sm5), shi0 = _mm512_permutexvar_epi16(ihi0, sm5);
    const __m512i slo1 = _mm512_permutexvar_epi16(ilo1, sm5), shi1 = _mm512_permutexvar_epi16(ihi1, sm5);
    const __m256i mins = _mm256_permutexvar_epi16(imin, sm);
    const __m512i q0 = _mm512_loadu_si512(p + 16), q1 = _mm512_loadu_si512(p + 80);
    const __m512i l0 = _mm512_and_si512(q0, low4), h0 = _mm512_and_si512(_mm512_srli_epi16(q0, 4), low4);
    const __m512i l1 = _mm512_and_si512(q1, low4), h1 = _mm512_and_si512(_mm512_srli_epi16(q1, 4), low4);
    const __m128 dd = _mm_cvtph_ps(_mm_cvtsi32_si128(load_i32(p)));  // d, dmin
#pragma GCC unroll 4
    for (int r = 0; r < M; r++) {
      const int8_t* aq = a[r].qs + b * 256;
      __m512i s = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_maddubs_epi16(l0, _mm512_loadu_si512(aq)), slo0);
      s = _mm512_dpwssd_epi32(s, _mm512_maddubs_epi16(h0, _mm512_loadu_si512(aq + 64)), shi0);
      s = _mm512_dpwssd_epi32(s, _mm512_maddubs_epi16(l1, _mm512_loadu_si512(aq + 128)), slo1);
      s = _mm512_dpwssd_epi32(s, _mm512_maddubs_epi16(h1, _mm512_loadu_si512(aq + 192)), shi1);
      const __m128 f = _mm_mul_ps(dd, _mm_set1_ps(a[r].d[b]));  // d·da, dmin·da
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_broadcastss_ps(f), acc[r]);
      const __m256i ms = _mm256_madd_epi16(mins, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[r].bsums + b * 16)));
      accm[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ms), _mm256_permutexvar_ps(_mm256_set1_epi32(1), _mm256_castps128_ps256(f)), accm[r]);
    }
  }
  for (int r = 0; r < M; r++) {
    const __m256 m8 = accm[r];
    __m128 m4 = _mm_add_ps(_mm256_castps256_ps128(m8), _mm256_extractf128_ps(m8, 1));
    m4 = _mm_add_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_add_ss(m4, _mm_movehdup_ps(m4));
    out[r] = _mm512_reduce_add_ps(acc[r]) - _mm_cvtss_f32(m4);
  }
}

// Q6_K: quants rebuilt from 4 low + 2 high bits as unsigned 0..63 (the −32 folded in through the sums of a),
// then the same vpmaddubsw + vpdpwssd with each 16-group's signed scale.
template <int M>
void dot_q6_K(const uint8_t* w, int64_t nb, const ActQK* a, float* out, const char* pf_end) {
  __m512 acc[M];
  for (int r = 0; r < M; r++) acc[r] = _mm512_setzero_ps();
  const __m512i low4 = _mm512_set1_epi8(0x0F), bits45 = _mm512_set1_epi8(0x30);
  // 16-bit lane t of a quant vector covers elements 2t, 2t+1: group t / 8 of the vector's four.
  const __m512i ig = _mm512_set_epi64(0x0003000300030003, 0x0003000300030003, 0x0002000200020002, 0x0002000200020002,
                                      0x0001000100010001, 0x0001000100010001, 0, 0);
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* p = w + b * 210;
    if (pf_end != nullptr)
      for (int l = 0; l < 4; l++) prefetch(p + l * 64, pf_end);
    const __m256i sc = _mm256_cvtepi8_epi16(loadu128(p + 192));
    const __m512i sc5 = _mm512_castsi256_si512(sc);
    __m512i q[4], s[4];
    for (int h = 0; h < 2; h++) {
      const __m512i ql = _mm512_loadu_si512(p + h * 64);
      const __m256i qh = loadu256(p + 128 + h * 32);
      const __m512i qhv = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
      q[2 * h] = _mm512_or_si512(_mm512_and_si512(ql, low4), _mm512_and_si512(_mm512_slli_epi16(qhv, 4), bits45));
      q[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), low4), _mm512_and_si512(qhv, bits45));
      s[2 * h] = _mm512_permutexvar_epi16(_mm512_add_epi16(ig, _mm512_set1_epi16(static_cast<short>(8 * h))), sc5);
      s[2 * h + 1] = _mm512_permutexvar_epi16(_mm512_add_epi16(ig, _mm512_set1_epi16(static_cast<short>(8 * h + 4))), sc5);
    }
    const float d = f16_to_f32(load_u16(p + 208));
#pragma GCC unroll 4
    for (int r = 0; r < M; r++) {
      const int8_t* aq = a[r].qs + b * 256;
      // Σ_g sc_g·32·Σa over the group: the −32 of every quant.
      const __m256i off = _mm256_madd_epi16(sc, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[r].bsums + b * 16)));
      __m512i t = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_zextsi256_si512(_mm256_slli_epi32(off, 5)));
#pragma GCC unroll 4
      for (int v = 0; v < 4; v++) t = _mm512_dpwssd_epi32(t, _mm512_maddubs_epi16(q[v], _mm512_loadu_si512(aq + v * 64)), s[v]);
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(t), _mm512_set1_ps(d * a[r].d[b]), acc[r]);
    }
  }
  for (int r = 0; r < M; r++) out[r] = _mm512_reduce_add_ps(acc[r]);
}

}  // namespace

#include "impl/quant_driver.inc"

}  // namespace avx512
}  // namespace whet
