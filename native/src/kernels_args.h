// Argument reading for the kernel bindings: typed arrays, integers and numbers, each checked, with one TypeError naming the op.
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>

namespace whet {

template <class T>
struct Arr {
  T* p = nullptr;
  int64_t len = 0;
};

// Saturating arithmetic for size checks: sizes come from JavaScript and their products may overflow.
inline int64_t sat_mul(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_mul_overflow(a, b, &r) ? INT64_MAX : r;
}
inline int64_t sat_add(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_add_overflow(a, b, &r) ? (a < 0 ? INT64_MIN : INT64_MAX) : r;
}

// Reads positional arguments. After the first bad one it throws a TypeError "<op>: <what>" and every later read
// returns a harmless default, so a binding reads everything and checks ok() once.
class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* op) : info_(info), op_(op) {}

  bool ok() const { return ok_; }
  Napi::Env env() const { return info_.Env(); }

  void fail(const std::string& what) {
    if (!ok_) return;
    ok_ = false;
    Napi::TypeError::New(info_.Env(), std::string(op_) + ": " + what).ThrowAsJavaScriptException();
  }
  // Well-typed arguments that together describe no valid problem (a RangeError).
  void range_fail(const std::string& what) {
    if (!ok_) return;
    ok_ = false;
    Napi::RangeError::New(info_.Env(), std::string(op_) + ": " + what).ThrowAsJavaScriptException();
  }

  Arr<float> f32(size_t i, const char* name) { return typed<float>(i, name, napi_float32_array, "a Float32Array"); }
  Arr<uint16_t> u16(size_t i, const char* name) { return typed<uint16_t>(i, name, napi_uint16_array, "a Uint16Array"); }
  Arr<uint8_t> u8(size_t i, const char* name) { return typed<uint8_t>(i, name, napi_uint8_array, "a Uint8Array"); }
  Arr<int32_t> i32(size_t i, const char* name) { return typed<int32_t>(i, name, napi_int32_array, "an Int32Array"); }
  Arr<double> f64(size_t i, const char* name) { return typed<double>(i, name, napi_float64_array, "a Float64Array"); }

  // The length of argument i, which must be a JS array (0 after a failure).
  uint32_t array_length(size_t i, const char* name) {
    uint32_t len = 0;
    if (ok_ && napi_get_array_length(info_.Env(), info_[i], &len) != napi_ok) fail(std::string(name) + " must be an array");
    return len;
  }
  // Element e of the JS array argument i (named `name`), which must be a Float32Array.
  Arr<float> f32_element(size_t i, uint32_t e, const char* name) {
    Arr<float> a;
    napi_value v = nullptr;
    if (ok_ && (napi_get_element(info_.Env(), info_[i], e, &v) != napi_ok || !view(v, napi_float32_array, a)))
      fail(std::string(name) + "[" + std::to_string(e) + "] must be a Float32Array");
    return a;
  }

  // A weight matrix: a Float32Array, or a Uint16Array of bf16 bits (then bf16 is set and h holds it).
  struct Weights {
    Arr<float> f;
    Arr<uint16_t> h;
    bool bf16 = false;
    int64_t len() const { return bf16 ? h.len : f.len; }
  };
  Weights weights(size_t i, const char* name) {
    Weights w;
    if (ok_ && !(w.bf16 = view(info_[i], napi_uint16_array, w.h)) && !view(info_[i], napi_float32_array, w.f))
      fail(std::string(name) + " must be a Float32Array or a Uint16Array of bf16 bits");
    return w;
  }

  // One N-API call per argument (no separate type query): these calls are most of a small op's cost.
  double number(size_t i, const char* name) {
    double v = 0;
    if (ok_ && napi_get_value_double(info_.Env(), info_[i], &v) != napi_ok) fail(std::string(name) + " must be a number");
    return v;
  }

  // An integer in [lo, 2^53].
  int64_t integer(size_t i, const char* name, int64_t lo = 0) {
    double v = number(i, name);
    if (!ok_) return 0;
    if (!(v == std::floor(v) && v >= static_cast<double>(lo) && v <= 9007199254740992.0)) {
      fail(std::string(name) + " must be an integer >= " + std::to_string(lo) + ", got " + std::to_string(v));
      return 0;
    }
    return static_cast<int64_t>(v);
  }

  // A size or count below 2^31.
  int64_t size(size_t i, const char* name) {
    const int64_t v = integer(i, name);
    if (ok_ && v > INT32_MAX) fail(std::string(name) + " must be below 2^31, got " + std::to_string(v));
    return v;
  }

  double finite(size_t i, const char* name) {
    const double v = number(i, name);
    if (ok_ && !std::isfinite(v)) fail(std::string(name) + " must be a finite number");
    return v;
  }

  // Null or undefined (p stays null), or an Int32Array.
  Arr<int32_t> optional_i32(size_t i, const char* name) {
    if (info_[i].IsNull() || info_[i].IsUndefined()) return {};
    return typed<int32_t>(i, name, napi_int32_array, "an Int32Array or null");
  }

  bool flag(size_t i, const char* name) {
    bool v = false;
    if (ok_ && napi_get_value_bool(info_.Env(), info_[i], &v) != napi_ok) fail(std::string(name) + " must be a boolean");
    return v;
  }

  // Requires a to hold at least `count` elements.
  template <class T>
  void need(const Arr<T>& a, int64_t count, const char* name) {
    if (ok_ && count > a.len)
      fail(std::string(name) + " has " + std::to_string(a.len) + " elements but " + std::to_string(count) + " are needed");
  }

 private:
  template <class T>
  Arr<T> typed(size_t i, const char* name, napi_typedarray_type want, const char* kind) {
    Arr<T> a;
    if (ok_ && !view(info_[i], want, a)) fail(std::string(name) + " must be " + kind);
    return a;
  }

  // Points a at the data of a typed array of type `want`; false when value is not one.
  template <class T>
  bool view(napi_value value, napi_typedarray_type want, Arr<T>& a) {
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;  // already advanced by the view's byte offset
    if (napi_get_typedarray_info(info_.Env(), value, &type, &length, &data, nullptr, nullptr) != napi_ok || type != want)
      return false;
    a.p = static_cast<T*>(data);
    a.len = static_cast<int64_t>(length);
    return true;
  }

  const Napi::CallbackInfo& info_;
  const char* op_;
  bool ok_ = true;
};

}  // namespace whet
