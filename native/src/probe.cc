// Addon functions fmaPeak(threads, seconds) and memBandwidth(threads, bytes): the machine's limits,
// measured with the active ISA on that many pool threads, for benchmarks to report ratios against.
#include "probe.h"

#include <napi.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "isa.h"
#include "threadpool.h"

namespace whet {
namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

double fma_loop(int64_t iters) {
  switch (active_isa()) {
    case Isa::avx512: return avx512::fma_loop(iters);
    case Isa::avx2: return avx2::fma_loop(iters);
    default: return scalar::fma_loop(iters);
  }
}

double fma_flops() {
  switch (active_isa()) {
    case Isa::avx512: return avx512::fma_flops;
    case Isa::avx2: return avx2::fma_flops;
    default: return scalar::fma_flops;
  }
}

float read_sum(const float* p, int64_t n) {
  switch (active_isa()) {
    case Isa::avx512: return avx512::read_sum(p, n);
    case Isa::avx2: return avx2::read_sum(p, n);
    default: return scalar::read_sum(p, n);
  }
}

// Runs fn on a pool of exactly `threads` threads, then restores the pool's size.
template <class F>
auto with_threads(int threads, const F& fn) {
  const int before = num_threads();
  if (threads != before) set_num_threads(threads);
  auto result = fn();
  if (threads != before) set_num_threads(before);
  return result;
}

volatile double g_sink;  // the probes' results end here, so their loops cannot be dropped

bool read_args(const Napi::CallbackInfo& info, const char* name, int* threads, double* amount) {
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    Napi::TypeError::New(info.Env(), std::string(name) + "(threads, amount): expected two numbers")
        .ThrowAsJavaScriptException();
    return false;
  }
  *threads = info[0].As<Napi::Number>().Int32Value();
  *amount = info[1].As<Napi::Number>().DoubleValue();
  if (*threads < 1 || *threads > 1024 || !(*amount > 0)) {
    Napi::TypeError::New(info.Env(), std::string(name) + ": threads must be in [1, 1024] and the amount positive")
        .ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

// GFLOP/s of the FMA loop on every thread at once: best of several rounds of about seconds/5.
Napi::Value FmaPeak(const Napi::CallbackInfo& info) {
  int threads;
  double seconds;
  if (!read_args(info, "fmaPeak", &threads, &seconds)) return info.Env().Undefined();
  double best = with_threads(threads, [&] {
    int64_t iters = 1 << 14;  // grow until one run takes a few milliseconds
    for (;;) {
      const double t0 = now();
      g_sink = fma_loop(iters);
      if (now() - t0 > 2e-3 || iters > (int64_t(1) << 40)) break;
      iters *= 2;
    }
    const double t0 = now();
    g_sink = fma_loop(iters);
    const double per_iter = (now() - t0) / iters;
    iters = std::max<int64_t>(1, int64_t(seconds / 5 / per_iter));
    std::vector<double> sinks(threads);
    double rate = 0;
    for (int round = 0; round < 5; round++) {
      const double start = now();
      parallel_for(threads, [&](int64_t t) { sinks[t] = fma_loop(iters); });
      rate = std::max(rate, threads * iters * fma_flops() / (now() - start));
    }
    for (double x : sinks) g_sink = g_sink + x;
    return rate;
  });
  return Napi::Number::New(info.Env(), best / 1e9);
}

// GB/s reading a buffer of `bytes` (rounded down to whole vectors) split across the threads:
// best of several passes after one pass that faults the pages in.
Napi::Value MemBandwidth(const Napi::CallbackInfo& info) {
  int threads;
  double bytes_d;
  if (!read_args(info, "memBandwidth", &threads, &bytes_d)) return info.Env().Undefined();
  const int64_t n = std::max<int64_t>(1024, int64_t(bytes_d / sizeof(float)) / 1024 * 1024);
  float* buf = static_cast<float*>(std::aligned_alloc(64, n * sizeof(float)));
  if (buf == nullptr) {
    Napi::Error::New(info.Env(), "memBandwidth: cannot allocate the buffer").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  double best = with_threads(threads, [&] {
    const int64_t chunk = n / threads / 16 * 16;
    auto part = [&](int64_t t) {
      const int64_t b = t * chunk, e = t == threads - 1 ? n : b + chunk;
      return std::make_pair(b, e);
    };
    parallel_for(threads, [&](int64_t t) {
      auto [b, e] = part(t);
      for (int64_t i = b; i < e; i++) buf[i] = 1.0f;
    });
    std::vector<double> sinks(threads);
    double rate = 0;
    for (int pass = 0; pass < 5; pass++) {
      const double start = now();
      parallel_for(threads, [&](int64_t t) {
        auto [b, e] = part(t);
        sinks[t] = read_sum(buf + b, e - b);
      });
      rate = std::max(rate, n * sizeof(float) / (now() - start));
    }
    for (double x : sinks) g_sink = g_sink + x;
    return rate;
  });
  std::free(buf);
  return Napi::Number::New(info.Env(), best / 1e9);
}

}  // namespace

void RegisterProbes(Napi::Env env, Napi::Object exports) {
  exports.Set("fmaPeak", Napi::Function::New(env, FmaPeak));
  exports.Set("memBandwidth", Napi::Function::New(env, MemBandwidth));
}

}  // namespace whet
