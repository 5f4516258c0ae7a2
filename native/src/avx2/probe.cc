// Machine probes at avx2 width (8 floats per vector); see impl/probe_loops.inc.
#include <cstdint>

#include "probe.h"

#define WHET_VW 8

namespace whet {
namespace avx2 {
#include "impl/probe_loops.inc"
}  // namespace avx2
}  // namespace whet
