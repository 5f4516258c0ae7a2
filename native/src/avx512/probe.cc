// Machine probes at avx512 width (16 floats per vector); see impl/probe_loops.inc.
#include <cstdint>

#include "probe.h"

#define WHET_VW 16

namespace whet {
namespace avx512 {
#include "impl/probe_loops.inc"
}  // namespace avx512
}  // namespace whet
