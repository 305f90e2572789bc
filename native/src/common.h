// Shared pieces of poi's native kernels: the oneDNN engine and stream, access to the wasm heap, and
// a small primitive cache (creating a oneDNN primitive costs far more than running a small one).
#pragma once
#include <napi.h>
#include <dnnl.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

namespace poi {

dnnl::engine& eng();
dnnl::stream& strm();

// Base address of the typed array (a view of the wasm heap, which may be a SharedArrayBuffer).
inline uint8_t* heapBase(const Napi::Value& v) {
  napi_typedarray_type type;
  size_t length = 0, off = 0;
  void* data = nullptr;
  napi_value ab;
  if (napi_get_typedarray_info(v.Env(), v, &type, &length, &data, &ab, &off) != napi_ok) return nullptr;
  return static_cast<uint8_t*>(data);
}

// Kernel parameters arrive as one Float64Array (offsets into the heap can exceed int32).
struct Params {
  const double* p = nullptr;
  size_t n = 0;
  bool ok = false;
  explicit Params(const Napi::Value& v) {
    if (!v.IsTypedArray()) return;
    auto ta = v.As<Napi::TypedArray>();
    if (ta.TypedArrayType() != napi_float64_array) return;
    p = reinterpret_cast<const double*>(heapBase(v));
    n = ta.ElementLength();
    ok = p != nullptr;
  }
  int64_t i(size_t k) const { return static_cast<int64_t>(p[k]); }
  float f(size_t k) const { return static_cast<float>(p[k]); }
};

// Cache key from integers.
inline std::string key(std::initializer_list<int64_t> xs) {
  std::string s;
  s.reserve(xs.size() * 6);
  for (int64_t x : xs) {
    s += std::to_string(x);
    s += ',';
  }
  return s;
}

// Activation codes shared with src/backend/native.ts.
enum Act { ACT_LINEAR = 0, ACT_RELU = 1, ACT_RELU6 = 2, ACT_ELU = 3, ACT_LEAKY = 4, ACT_SIGMOID = 5 };
dnnl::primitive_attr actAttr(int act, float alpha);

// Wraps a kernel body: oneDNN errors become JS exceptions.
template <typename F>
Napi::Value guarded(const Napi::CallbackInfo& info, const char* what, F&& body) {
  Napi::Env env = info.Env();
  try {
    body();
  } catch (const dnnl::error& e) {
    Napi::Error::New(env, std::string("poi native ") + what + ": oneDNN: " + e.what()).ThrowAsJavaScriptException();
  } catch (const std::exception& e) {
    Napi::Error::New(env, std::string("poi native ") + what + ": " + e.what()).ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

Napi::Value Conv2dForward(const Napi::CallbackInfo& info);
Napi::Value Conv2dBackwardData(const Napi::CallbackInfo& info);
Napi::Value Conv2dBackwardWeights(const Napi::CallbackInfo& info);
Napi::Value DepthwiseForward(const Napi::CallbackInfo& info);
Napi::Value DepthwiseBackwardData(const Napi::CallbackInfo& info);
Napi::Value DepthwiseBackwardWeights(const Napi::CallbackInfo& info);
Napi::Value MatMul(const Napi::CallbackInfo& info);
Napi::Value MaxPoolGrad(const Napi::CallbackInfo& info);
Napi::Value Binary(const Napi::CallbackInfo& info);
Napi::Value PreluGrad(const Napi::CallbackInfo& info);
std::string lastImpl();
void setLastImpl(const char* s);

}  // namespace poi
