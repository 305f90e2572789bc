// Conv2D forward (optionally with bias and an activation), and its data and weights gradients, on
// oneDNN; and the same three for depthwise convolution (tfjs' DepthwiseConv2dNative, any channel
// multiplier) as oneDNN grouped convolution with groups = input channels. Activations stay NHWC in
// the wasm heap (oneDNN's jit kernels read and write NHWC directly); the filter is tfjs'
// [kh, kw, Ci, Co] ("hwio"), or [kh, kw, C, M] for depthwise, which is oneDNN's grouped "hwigo"
// with G = C, O = M, I = 1; it is reordered to whatever blocked format the chosen implementation
// wants (filters are small next to activations).
#include "common.h"

namespace poi {
using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

namespace {

// 15 numbers from params[4..18], and the group count G (1: dense; Ci: depthwise, Co = Ci * multiplier).
struct Geom {
  int64_t N, H, W, Ci, kh, kw, Co, sh, sw, dh, dw, pt, pl, oh, ow, G;
  Geom(const Params& p, int64_t groups)
      : N(p.i(4)), H(p.i(5)), W(p.i(6)), Ci(p.i(7)), kh(p.i(8)), kw(p.i(9)), Co(p.i(10)), sh(p.i(11)),
        sw(p.i(12)), dh(p.i(13)), dw(p.i(14)), pt(p.i(15)), pl(p.i(16)), oh(p.i(17)), ow(p.i(18)), G(groups) {
    if (G < 1 || Ci % G != 0 || Co % G != 0) throw std::runtime_error("bad group count");
  }
  // Bottom/right padding that makes oneDNN's output size come out as tfjs'; negative when the last
  // rows/columns are never reached (e.g. a 1x1 stride-2 conv on an even size), which oneDNN accepts.
  int64_t pb() const { return (oh - 1) * sh + (kh - 1) * dh + 1 - H - pt; }
  int64_t pr() const { return (ow - 1) * sw + (kw - 1) * dw + 1 - W - pl; }
  memory::desc src() const { return {{N, Ci, H, W}, dt::f32, tag::nhwc}; }
  memory::desc dst() const { return {{N, Co, oh, ow}, dt::f32, tag::nhwc}; }
  memory::dims wDims() const {
    if (G == 1) return {Co, Ci, kh, kw};
    return {G, Co / G, Ci / G, kh, kw};
  }
  memory::desc wUser() const { return {wDims(), dt::f32, G == 1 ? tag::hwio : tag::hwigo}; }
  memory::desc wAny() const { return {wDims(), dt::f32, tag::any}; }
  memory::desc bias() const { return {{Co}, dt::f32, tag::x}; }
  memory::dims strides() const { return {sh, sw}; }
  memory::dims dil() const { return {dh - 1, dw - 1}; }
  memory::dims padL() const { return {pt, pl}; }
  memory::dims padR() const { return {pb(), pr()}; }
  std::string k() const { return key({N, H, W, Ci, kh, kw, Co, sh, sw, dh, dw, pt, pl, oh, ow, G}); }
  convolution_forward::desc fwdDesc(bool withBias) const {
    if (withBias)
      return convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct, src(), wAny(), bias(),
                                        dst(), strides(), dil(), padL(), padR());
    return convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct, src(), wAny(), dst(),
                                     strides(), dil(), padL(), padR());
  }
};

// The filter in the primitive's format: either the user's buffer as is, or a reorder into a buffer
// owned by the cache entry.
struct Weights {
  memory::desc user, prim;
  bool same = true;
  memory buf;
  reorder toPrim, toUser;
  void init(const memory::desc& u, const memory::desc& p, bool userToPrim) {
    user = u;
    prim = p;
    same = (u == p);
    if (!same) {
      buf = memory(prim, eng());
      if (userToPrim)
        toPrim = reorder(memory(user, eng(), DNNL_MEMORY_NONE), buf);
      else
        toUser = reorder(buf, memory(user, eng(), DNNL_MEMORY_NONE));
    }
  }
  // memory holding the weights for the primitive (reordering from the user's buffer if needed)
  memory in(void* userPtr) {
    memory um(user, eng(), userPtr);
    if (same) return um;
    toPrim.execute(strm(), um, buf);
    return buf;
  }
};

struct FwdEntry {
  convolution_forward::primitive_desc pd;
  convolution_forward prim;
  Weights w;
};
struct BwdDataEntry {
  convolution_backward_data::primitive_desc pd;
  convolution_backward_data prim;
  Weights w;
};
struct BwdWeightsEntry {
  convolution_backward_weights::primitive_desc pd;
  convolution_backward_weights prim;
  Weights w;
};

std::unordered_map<std::string, std::unique_ptr<FwdEntry>> fwdCache;
std::unordered_map<std::string, std::unique_ptr<BwdDataEntry>> bwdDataCache;
std::unordered_map<std::string, std::unique_ptr<BwdWeightsEntry>> bwdWeightsCache;

// params: [xOff, wOff, biasOff (-1: none), yOff, geometry(15), act, alpha]
void forward(const Napi::CallbackInfo& info, bool depthwise) {
  uint8_t* heap = heapBase(info[0]);
  Params p(info[1]);
  if (!heap || !p.ok || p.n < 21) throw std::runtime_error("bad arguments");
  Geom g(p, depthwise ? p.i(7) : 1);
  const bool withBias = p.i(2) >= 0;
  const int act = static_cast<int>(p.i(19));
  const float alpha = p.f(20);
  std::string k = g.k() + (withBias ? "b" : "") + std::to_string(act) + "," + std::to_string(alpha);
  auto it = fwdCache.find(k);
  if (it == fwdCache.end()) {
    auto e = std::make_unique<FwdEntry>();
    e->pd = convolution_forward::primitive_desc(g.fwdDesc(withBias), actAttr(act, alpha), eng());
    e->prim = convolution_forward(e->pd);
    e->w.init(g.wUser(), e->pd.weights_desc(), true);
    it = fwdCache.emplace(k, std::move(e)).first;
  }
  FwdEntry& e = *it->second;
  setLastImpl(e.pd.impl_info_str());
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, memory(g.src(), eng(), heap + p.i(0))},
      {DNNL_ARG_WEIGHTS, e.w.in(heap + p.i(1))},
      {DNNL_ARG_DST, memory(g.dst(), eng(), heap + p.i(3))},
  };
  if (withBias) args.emplace(DNNL_ARG_BIAS, memory(g.bias(), eng(), heap + p.i(2)));
  e.prim.execute(strm(), args);
  strm().wait();
}

// params: [dyOff, wOff, dxOff, unused, geometry(15)]
void backwardData(const Napi::CallbackInfo& info, bool depthwise) {
  uint8_t* heap = heapBase(info[0]);
  Params p(info[1]);
  if (!heap || !p.ok || p.n < 19) throw std::runtime_error("bad arguments");
  Geom g(p, depthwise ? p.i(7) : 1);
  std::string k = g.k();
  auto it = bwdDataCache.find(k);
  if (it == bwdDataCache.end()) {
    auto e = std::make_unique<BwdDataEntry>();
    auto hint = convolution_forward::primitive_desc(g.fwdDesc(false), eng());
    auto d = convolution_backward_data::desc(algorithm::convolution_direct, g.src(), g.wAny(), g.dst(), g.strides(),
                                             g.dil(), g.padL(), g.padR());
    e->pd = convolution_backward_data::primitive_desc(d, eng(), hint);
    e->prim = convolution_backward_data(e->pd);
    e->w.init(g.wUser(), e->pd.weights_desc(), true);
    it = bwdDataCache.emplace(k, std::move(e)).first;
  }
  BwdDataEntry& e = *it->second;
  setLastImpl(e.pd.impl_info_str());
  e.prim.execute(strm(), {
                             {DNNL_ARG_DIFF_DST, memory(g.dst(), eng(), heap + p.i(0))},
                             {DNNL_ARG_WEIGHTS, e.w.in(heap + p.i(1))},
                             {DNNL_ARG_DIFF_SRC, memory(g.src(), eng(), heap + p.i(2))},
                         });
  strm().wait();
}

// params: [xOff, dyOff, dwOff, unused, geometry(15)]
void backwardWeights(const Napi::CallbackInfo& info, bool depthwise) {
  uint8_t* heap = heapBase(info[0]);
  Params p(info[1]);
  if (!heap || !p.ok || p.n < 19) throw std::runtime_error("bad arguments");
  Geom g(p, depthwise ? p.i(7) : 1);
  std::string k = g.k();
  auto it = bwdWeightsCache.find(k);
  if (it == bwdWeightsCache.end()) {
    auto e = std::make_unique<BwdWeightsEntry>();
    auto hint = convolution_forward::primitive_desc(g.fwdDesc(false), eng());
    auto d = convolution_backward_weights::desc(algorithm::convolution_direct, g.src(), g.wAny(), g.dst(),
                                                g.strides(), g.dil(), g.padL(), g.padR());
    e->pd = convolution_backward_weights::primitive_desc(d, eng(), hint);
    e->prim = convolution_backward_weights(e->pd);
    e->w.init(g.wUser(), e->pd.diff_weights_desc(), false);
    it = bwdWeightsCache.emplace(k, std::move(e)).first;
  }
  BwdWeightsEntry& e = *it->second;
  setLastImpl(e.pd.impl_info_str());
  memory user(g.wUser(), eng(), heap + p.i(2));
  memory dW = e.w.same ? user : e.w.buf;
  e.prim.execute(strm(), {
                             {DNNL_ARG_SRC, memory(g.src(), eng(), heap + p.i(0))},
                             {DNNL_ARG_DIFF_DST, memory(g.dst(), eng(), heap + p.i(1))},
                             {DNNL_ARG_DIFF_WEIGHTS, dW},
                         });
  if (!e.w.same) e.w.toUser.execute(strm(), e.w.buf, user);
  strm().wait();
}

}  // namespace

// Dense: geometry with Co = filter's last dim. Depthwise: Ci = C, Co = C * multiplier, G = C. The
// error prefixes name the tfjs kernel (src/backend/native.ts warns once per prefix and falls back).
Napi::Value Conv2dForward(const Napi::CallbackInfo& info) {
  return guarded(info, "Conv2D", [&] { forward(info, false); });
}
Napi::Value Conv2dBackwardData(const Napi::CallbackInfo& info) {
  return guarded(info, "Conv2DBackpropInput", [&] { backwardData(info, false); });
}
Napi::Value Conv2dBackwardWeights(const Napi::CallbackInfo& info) {
  return guarded(info, "Conv2DBackpropFilter", [&] { backwardWeights(info, false); });
}
Napi::Value DepthwiseForward(const Napi::CallbackInfo& info) {
  return guarded(info, "DepthwiseConv2dNative", [&] { forward(info, true); });
}
Napi::Value DepthwiseBackwardData(const Napi::CallbackInfo& info) {
  return guarded(info, "DepthwiseConv2dNativeBackpropInput", [&] { backwardData(info, true); });
}
Napi::Value DepthwiseBackwardWeights(const Napi::CallbackInfo& info) {
  return guarded(info, "DepthwiseConv2dNativeBackpropFilter", [&] { backwardWeights(info, true); });
}

}  // namespace poi
