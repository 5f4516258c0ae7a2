// Instruction-set dispatch: the best variant the CPU supports, overridable (WHET_ISA or setIsa) for tests.
#pragma once

namespace whet {

enum class Isa { scalar = 0, avx2 = 1, avx512 = 2 };

Isa detected_isa();               // best the CPU supports
Isa active_isa();                 // what kernels use now (never above detected)
bool set_active_isa(Isa isa);     // false if the CPU lacks it
const char* isa_name(Isa isa);

// AVX512_BF16 (vdpbf16ps): with it on, the avx512 GEMM multiplies bf16 B by A rounded to bf16 (see
// gemm.h). On when the CPU has it, unless WHET_BF16=0; tests switch it to check both paths.
bool cpu_has_avx512_bf16();
bool bf16_dot_enabled();
bool set_bf16_dot(bool on);  // false (and unchanged) when asked on and the CPU lacks it

}  // namespace whet
