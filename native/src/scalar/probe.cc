// Machine probes at scalar width (4 floats per vector); see impl/probe_loops.inc.
#include <cstdint>

#include "probe.h"

#define WHET_VW 4

namespace whet {
namespace scalar {
#include "impl/probe_loops.inc"
}  // namespace scalar
}  // namespace whet
