// Runtime CPU feature detection for kernel dispatch.
#include "isa.h"

#include <cstdlib>
#include <cstring>

namespace whet {
namespace {

Isa detect() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma"))
    return Isa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
  return Isa::scalar;
}

Isa initial() {
  Isa best = detect();
  const char* env = std::getenv("WHET_ISA");
  if (env == nullptr) return best;
  Isa want = std::strcmp(env, "scalar") == 0 ? Isa::scalar : std::strcmp(env, "avx2") == 0 ? Isa::avx2 : best;
  return want < best ? want : best;
}

Isa g_active = initial();

bool detect_bf16() {
  __builtin_cpu_init();
  return detect() == Isa::avx512 && __builtin_cpu_supports("avx512bf16");
}

bool initial_bf16() {
  const char* env = std::getenv("WHET_BF16");
  return detect_bf16() && !(env != nullptr && std::strcmp(env, "0") == 0);
}

bool g_bf16 = initial_bf16();

}  // namespace

Isa detected_isa() {
  static Isa d = detect();
  return d;
}

Isa active_isa() { return g_active; }

bool set_active_isa(Isa isa) {
  if (isa > detected_isa()) return false;
  g_active = isa;
  return true;
}

bool cpu_has_avx512_bf16() {
  static bool d = detect_bf16();
  return d;
}

bool bf16_dot_enabled() { return g_bf16; }

bool set_bf16_dot(bool on) {
  if (on && !cpu_has_avx512_bf16()) return false;
  g_bf16 = on;
  return true;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "scalar";
  }
}

}  // namespace whet
