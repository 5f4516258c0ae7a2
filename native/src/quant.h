// GGUF block-quantised weights (Q4_0, Q8_0, Q4_K, Q6_K) used as they lie: products and row lookups.
#pragma once
#include <cstdint>

namespace whet {

// ggml's type ids; a quantised matrix of R rows × L columns is R·(L/block) blocks, row after row.
enum QuantType : int { kQ4_0 = 2, kQ8_0 = 8, kQ4_K = 12, kQ6_K = 14 };

// Elements and bytes per block of `type`; false for a type this file does not know.
inline bool quant_block(int type, int64_t* elems, int64_t* bytes) {
  switch (type) {
    case kQ4_0: *elems = 32; *bytes = 18; return true;   // f16 d; u8 qs[16]
    case kQ8_0: *elems = 32; *bytes = 34; return true;   // f16 d; i8 qs[32]
    case kQ4_K: *elems = 256; *bytes = 144; return true; // f16 d, dmin; u8 scales[12]; u8 qs[128]
    case kQ6_K: *elems = 256; *bytes = 210; return true; // u8 ql[128], qh[64]; i8 scales[16]; f16 d
    default: return false;
  }
}

inline const char* quant_name(int type) {
  switch (type) {
    case kQ4_0: return "Q4_0";
    case kQ8_0: return "Q8_0";
    case kQ4_K: return "Q4_K";
    case kQ6_K: return "Q6_K";
    default: return "?";
  }
}

// C(m×n) (+)= A(m×k)·op(W), A and C dense row-major (pointers already at their offsets). W is quantised:
// n rows of k when trans_w (op(W) = Wᵀ, a linear layer's forward), else k rows of n (W itself, the
// backward to a frozen weight's input). The row length is a whole number of blocks (checked by the binding).
struct QGemmArgs {
  const float* a;
  const uint8_t* w; int type; bool trans_w;
  float* c;
  int64_t m, n, k;
  bool accumulate;
};

void qgemm(const QGemmArgs& args);  // runs the variant for active_isa()

// out[i·row_len + j] = element j of row rows[i] of the quantised matrix w (row_len columns), for i < nrows.
// Bit-exact to ggml's dequantize_row_* (every value is one rounding of the exact product).
void dequant_rows(int type, const uint8_t* w, int64_t row_len, const int32_t* rows, int64_t nrows, float* out);

// The per-ISA variants (dequant_rows: entries [i0, i1) of rows, on the calling thread). The AVX-512 one needs
// VNNI; without it the AVX2 one runs.
namespace avx512 {
void qgemm(const QGemmArgs& args);
void dequant_rows(int type, const uint8_t* w, int64_t row_len, const int32_t* rows, int64_t i0, int64_t i1, float* out);
}  // namespace avx512
namespace avx2 {
void qgemm(const QGemmArgs& args);
void dequant_rows(int type, const uint8_t* w, int64_t row_len, const int32_t* rows, int64_t i0, int64_t i1, float* out);
}  // namespace avx2
namespace scalar {
void qgemm(const QGemmArgs& args);
void dequant_rows(int type, const uint8_t* w, int64_t row_len, const int32_t* rows, int64_t i0, int64_t i1, float* out);
}  // namespace scalar

}  // namespace whet
