// Placeholder until the GEMM kernels land.
#include <napi.h>
namespace whet {
void RegisterGemm(Napi::Env, Napi::Object) {}
}
