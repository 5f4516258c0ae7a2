// N-API entry point: thread-pool and ISA controls, plus each kernel group's registrations.
#include <napi.h>

#include <sys/mman.h>

#include <cstdint>

#include "isa.h"
#include "threadpool.h"

namespace whet {
void RegisterGemm(Napi::Env env, Napi::Object exports);
void RegisterKernels(Napi::Env env, Napi::Object exports);
void RegisterAttention(Napi::Env env, Napi::Object exports);
void RegisterLoraKernels(Napi::Env env, Napi::Object exports);
void RegisterQuant(Napi::Env env, Napi::Object exports);
}  // namespace whet

namespace {

Napi::Value NumThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), whet::num_threads()); }

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  whet::set_num_threads(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

Napi::Value GetIsa(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), whet::isa_name(whet::active_isa()));
}

Napi::Value DetectedIsa(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), whet::isa_name(whet::detected_isa()));
}

Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>().Utf8Value();
  whet::Isa isa = name == "avx512" ? whet::Isa::avx512 : name == "avx2" ? whet::Isa::avx2 : whet::Isa::scalar;
  return Napi::Boolean::New(info.Env(), whet::set_active_isa(isa));
}

Napi::Value Bf16Dot(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), whet::bf16_dot_enabled()); }

Napi::Value SetBf16Dot(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), whet::set_bf16_dot(info[0].ToBoolean().Value()));
}

// Asks the kernel to back the typed array's whole 2 MiB pages with huge pages (before it is written).
Napi::Value AdviseHugePages(const Napi::CallbackInfo& info) {
  Napi::TypedArray arr = info[0].As<Napi::TypedArray>();
  auto begin = reinterpret_cast<uintptr_t>(arr.ArrayBuffer().Data()) + arr.ByteOffset();
  auto end = begin + arr.ByteLength();
  constexpr uintptr_t kHuge = 2u << 20;
  uintptr_t b = (begin + kHuge - 1) & ~(kHuge - 1), e = end & ~(kHuge - 1);
  bool ok = b < e && madvise(reinterpret_cast<void*>(b), e - b, MADV_HUGEPAGE) == 0;
  return Napi::Boolean::New(info.Env(), ok);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("numThreads", Napi::Function::New(env, NumThreads));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("isa", Napi::Function::New(env, GetIsa));
  exports.Set("detectedIsa", Napi::Function::New(env, DetectedIsa));
  exports.Set("setIsa", Napi::Function::New(env, SetIsa));
  exports.Set("bf16Dot", Napi::Function::New(env, Bf16Dot));
  exports.Set("setBf16Dot", Napi::Function::New(env, SetBf16Dot));
  exports.Set("adviseHugePages", Napi::Function::New(env, AdviseHugePages));
  whet::RegisterGemm(env, exports);
  whet::RegisterKernels(env, exports);
  whet::RegisterAttention(env, exports);
  whet::RegisterLoraKernels(env, exports);
  whet::RegisterQuant(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(whet_native, Init)
