// Picks the quantised-product variant for the active instruction set (AVX-512 only with VNNI).
#include "quant.h"

#include <algorithm>

#include "isa.h"
#include "threadpool.h"

namespace whet {
namespace {

enum class QIsa { scalar, avx2, avx512 };

QIsa quant_isa() {
  switch (active_isa()) {
    case Isa::avx512: {
      static const bool vnni = __builtin_cpu_supports("avx512vnni");
      return vnni ? QIsa::avx512 : QIsa::avx2;
    }
    case Isa::avx2: return QIsa::avx2;
    default: return QIsa::scalar;
  }
}

}  // namespace

void qgemm(const QGemmArgs& args) {
  switch (quant_isa()) {
    case QIsa::avx512: avx512::qgemm(args); break;
    case QIsa::avx2: avx2::qgemm(args); break;
    default: scalar::qgemm(args); break;
  }
}

void dequant_rows(int type, const uint8_t* w, int64_t row_len, const int32_t* rows, int64_t nrows, float* out) {
  const QIsa isa = quant_isa();
  const int64_t grain = std::max<int64_t>(1, (64 << 10) / std::max<int64_t>(1, row_len));
  parallel_range(nrows, grain, [&](int64_t i0, int64_t i1) {
    switch (isa) {
      case QIsa::avx512: avx512::dequant_rows(type, w, row_len, rows, i0, i1, out); break;
      case QIsa::avx2: avx2::dequant_rows(type, w, row_len, rows, i0, i1, out); break;
      default: scalar::dequant_rows(type, w, row_len, rows, i0, i1, out); break;
    }
  });
}

}  // namespace whet
