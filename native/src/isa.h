// Instruction-set dispatch: the best variant the CPU supports, overridable (WHET_ISA or setIsa) for tests.
#pragma once

namespace whet {

enum class Isa { scalar = 0, avx2 = 1, avx512 = 2 };

Isa detected_isa();               // best the CPU supports
Isa active_isa();                 // what kernels use now (never above detected)
bool set_active_isa(Isa isa);     // false if the CPU lacks it
const char* isa_name(Isa isa);

}  // namespace whet
