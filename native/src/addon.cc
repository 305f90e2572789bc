// poi's native training kernels: entry points. See src/backend/native.ts for how they plug into
// tfjs' wasm backend (inputs and outputs are addressed as byte offsets into the wasm heap).
#include <omp.h>

#include "common.h"

namespace poi {
using namespace dnnl;

engine& eng() {
  static engine e(engine::kind::cpu, 0);
  return e;
}
stream& strm() {
  static stream s(eng());
  return s;
}

static std::string impl;
std::string lastImpl() { return impl; }
void setLastImpl(const char* s) { impl = s; }

primitive_attr actAttr(int act, float alpha) {
  primitive_attr attr;
  if (act == ACT_LINEAR) return attr;
  post_ops po;
  switch (act) {
    case ACT_RELU: po.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f); break;
    case ACT_RELU6: po.append_eltwise(1.f, algorithm::eltwise_clip, 0.f, 6.f); break;
    case ACT_ELU: po.append_eltwise(1.f, algorithm::eltwise_elu, 1.f, 0.f); break;
    case ACT_LEAKY: po.append_eltwise(1.f, algorithm::eltwise_relu, alpha, 0.f); break;
    case ACT_SIGMOID: po.append_eltwise(1.f, algorithm::eltwise_logistic, 0.f, 0.f); break;
    default: throw std::runtime_error("unknown activation code " + std::to_string(act));
  }
  attr.set_post_ops(po);
  return attr;
}

static Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  int n = info[0].As<Napi::Number>().Int32Value();
  if (n >= 1) omp_set_num_threads(n);
  return Napi::Number::New(info.Env(), omp_get_max_threads());
}

static Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto o = Napi::Object::New(env);
  const dnnl_version_t* v = dnnl_version();
  o.Set("onednn", std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch));
  o.Set("threads", omp_get_max_threads());
  o.Set("lastImpl", lastImpl());
  return o;
}

// Does the typed array give us its memory (also over a SharedArrayBuffer)? Returns its first float.
static Napi::Value Probe(const Napi::CallbackInfo& info) {
  uint8_t* b = heapBase(info[0]);
  if (!b) return info.Env().Null();
  return Napi::Number::New(info.Env(), *reinterpret_cast<float*>(b));
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("conv2dForward", Napi::Function::New(env, Conv2dForward));
  exports.Set("conv2dBackwardData", Napi::Function::New(env, Conv2dBackwardData));
  exports.Set("conv2dBackwardWeights", Napi::Function::New(env, Conv2dBackwardWeights));
  exports.Set("depthwiseForward", Napi::Function::New(env, DepthwiseForward));
  exports.Set("depthwiseBackwardData", Napi::Function::New(env, DepthwiseBackwardData));
  exports.Set("depthwiseBackwardWeights", Napi::Function::New(env, DepthwiseBackwardWeights));
  exports.Set("matMul", Napi::Function::New(env, MatMul));
  exports.Set("maxPoolGrad", Napi::Function::New(env, MaxPoolGrad));
  exports.Set("binary", Napi::Function::New(env, Binary));
  exports.Set("preluGrad", Napi::Function::New(env, PreluGrad));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("probe", Napi::Function::New(env, Probe));
  return exports;
}

}  // namespace poi

static Napi::Object InitAll(Napi::Env env, Napi::Object exports) { return poi::Init(env, exports); }
NODE_API_MODULE(poi_native, InitAll)
