// Placeholder until the non-GEMM kernels land.
#include <napi.h>
namespace whet {
void RegisterKernels(Napi::Env, Napi::Object) {}
}
