// Machine probes for benchmarks: fp32 FMA peak and streaming-read bandwidth, per ISA.
#pragma once
#include <cstdint>

namespace whet {

// fma_loop runs `iters` rounds of independent FMAs on registers and returns a value that depends
// on all of them; fma_flops is the fp32 flops of one round. read_sum reads n floats and sums them.
#define WHET_PROBE_DECLS                          \
  double fma_loop(int64_t iters);                 \
  extern const double fma_flops;                  \
  float read_sum(const float* p, int64_t n);
namespace avx512 { WHET_PROBE_DECLS }
namespace avx2 { WHET_PROBE_DECLS }
namespace scalar { WHET_PROBE_DECLS }
#undef WHET_PROBE_DECLS

}  // namespace whet
