// Quantised products, portable scalar build: integer sums per block exactly as the vector kernels form them.
// The shared code passes 32-byte GCC vectors between inline functions, which GCC warns about without AVX.
#pragma GCC diagnostic ignored "-Wpsabi"
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "gemm.h"
#include "quant.h"
#include "threadpool.h"

namespace whet {
namespace scalar {
namespace {

// Exact IEEE half → float, subnormals, infinities and NaNs included.
inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    const float v = static_cast<float>(man) * 5.9604644775390625e-08f;  // man · 2^-24, exact
    std::memcpy(&bits, &v, 4);
    bits |= sign;
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

constexpr float kQ8Bias = 0.f;  // the scalar kernels multiply the values as they are
constexpr float kQ4Bias = 0.f;
constexpr bool kQ4KInterleave = false;
constexpr int64_t kMaxRows = 4;  // rows of A per pass over a W row

}  // namespace

#include "impl/quant_blocks.inc"

namespace {

// One W row (nb blocks of kBytes at w: an f16 d, then the quants) times one quantised activation row: the integer
// sum dot(quants, activations) per block, scaled in float.
template <int kBytes, class Dot>
float row_q32(const uint8_t* w, int64_t nb, const ActQ32& a, Dot dot) {
  float sum = 0.f;
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* p = w + b * kBytes;
    sum += f16_to_f32(load_u16(p)) * a.d[b] * static_cast<float>(dot(p + 2, a.qs + b * 32));
  }
  return sum;
}

float row_q8_0(const uint8_t* w, int64_t nb, const ActQ32& a) {
  return row_q32<34>(w, nb, a, [](const uint8_t* p, const int8_t* x) {
    const int8_t* q = reinterpret_cast<const int8_t*>(p);
    int32_t s = 0;
    for (int j = 0; j < 32; j++) s += q[j] * x[j];
    return s;
  });
}

float row_q4_0(const uint8_t* w, int64_t nb, const ActQ32& a) {
  return row_q32<18>(w, nb, a, [](const uint8_t* q, const int8_t* x) {
    int32_t s = 0;
    for (int j = 0; j < 16; j++) s += ((q[j] & 15) - 8) * x[j] + ((q[j] >> 4) - 8) * x[j + 16];
    return s;
  });
}

// d·da·Σ_j sc_j·Σ q·a − dmin·da·Σ_j m_j·Σa over sub-block j.
float row_q4_K(const uint8_t* w, int64_t nb, const ActQK& a) {
  float sum = 0.f;
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* p = w + b * 144;
    uint8_t sc[8], mn[8];
    q4k_scale_min(p + 4, sc, mn);
    const int8_t* x = a.qs + b * 256;
    const int16_t* bs = a.bsums + b * 16;
    int32_t s = 0, smin = 0;
    for (int j = 0; j < 4; j++) {
      const uint8_t* q = p + 16 + 32 * j;
      int32_t lo = 0, hi = 0;
      for (int l = 0; l < 32; l++) {
        lo += (q[l] & 15) * x[64 * j + l];
        hi += (q[l] >> 4) * x[64 * j + 32 + l];
      }
      s += sc[2 * j] * lo + sc[2 * j + 1] * hi;
    }
    for (int j = 0; j < 8; j++) smin += mn[j] * (bs[2 * j] + bs[2 * j + 1]);
    const float da = a.d[b];
    sum += f16_to_f32(load_u16(p)) * da * static_cast<float>(s) - f16_to_f32(load_u16(p + 2)) * da * static_cast<float>(smin);
  }
  return sum;
}

// d·da·Σ_g sc_g·Σ (q − 32)·a over each 16-group g.
float row_q6_K(const uint8_t* w, int64_t nb, const ActQK& a) {
  float sum = 0.f;
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* p = w + b * 210;
    const int8_t* sc = reinterpret_cast<const int8_t*>(p + 192);
    const int8_t* x = a.qs + b * 256;
    int32_t gs[16] = {};
    for (int h = 0; h < 2; h++) {
      const uint8_t* ql = p + 64 * h;
      const uint8_t* qh = p + 128 + 32 * h;
      const int8_t* xh = x + 128 * h;
      for (int l = 0; l < 32; l++) {
        const int g = 8 * h + l / 16;
        gs[g] += (((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32) * xh[l];
        gs[g + 2] += (((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32) * xh[l + 32];
        gs[g + 4] += (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32) * xh[l + 64];
        gs[g + 6] += (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32) * xh[l + 96];
      }
    }
    int32_t s = 0;
    for (int g = 0; g < 16; g++) s += sc[g] * gs[g];
    sum += f16_to_f32(load_u16(p + 208)) * a.d[b] * static_cast<float>(s);
  }
  return sum;
}

// out[q·M + r] = row q of W (rows rb bytes apart from w) times activation row r.
template <int M, int R, class Act, class Row>
inline void rows(const uint8_t* w, int64_t rb, int64_t nb, const Act* a, float* out, const Row& row) {
  for (int q = 0; q < R; q++)
    for (int r = 0; r < M; r++) out[q * M + r] = row(w + q * rb, nb, a[r]);
}

template <int M, int R>
void dot_q8_0(const uint8_t* w, int64_t rb, int64_t nb, const ActQ32* a, float* out, const char*) {
  rows<M, R>(w, rb, nb, a, out, row_q8_0);
}
template <int M, int R>
void dot_q4_0(const uint8_t* w, int64_t rb, int64_t nb, const ActQ32* a, float* out, const char*) {
  rows<M, R>(w, rb, nb, a, out, row_q4_0);
}
template <int M, int R>
void dot_q4_K(const uint8_t* w, int64_t rb, int64_t nb, const ActQK* a, float* out, const char*) {
  rows<M, R>(w, rb, nb, a, out, row_q4_K);
}
template <int M, int R>
void dot_q6_K(const uint8_t* w, int64_t rb, int64_t nb, const ActQK* a, float* out, const char*) {
  rows<M, R>(w, rb, nb, a, out, row_q6_K);
}

}  // namespace

#include "impl/quant_driver.inc"

}  // namespace scalar
}  // namespace whet
