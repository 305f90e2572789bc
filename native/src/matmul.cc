// Batched matrix product with transpose flags (as strides, no copies), broadcasting of a batch of
// one, and an optional [N] bias and activation (tfjs' _FusedMatMul).
#include "common.h"

namespace poi {
using namespace dnnl;
using dt = memory::data_type;

namespace {
struct Entry {
  matmul::primitive_desc pd;
  matmul prim;
  memory::desc a, b, bias, out;
};
std::unordered_map<std::string, std::unique_ptr<Entry>> cache;
}  // namespace

// params: [aOff, bOff, biasOff (-1: none), outOff, batchA, batchB, M, K, N, transA, transB, act, alpha]
Napi::Value MatMul(const Napi::CallbackInfo& info) {
  return guarded(info, "BatchMatMul", [&] {
    uint8_t* heap = heapBase(info[0]);
    Params p(info[1]);
    if (!heap || !p.ok || p.n < 13) throw std::runtime_error("bad arguments");
    const int64_t bA = p.i(4), bB = p.i(5), M = p.i(6), K = p.i(7), N = p.i(8);
    const bool tA = p.i(9) != 0, tB = p.i(10) != 0, withBias = p.i(2) >= 0;
    const int act = static_cast<int>(p.i(11));
    const float alpha = p.f(12);
    const int64_t bO = bA > bB ? bA : bB;
    std::string k = key({bA, bB, M, K, N, tA, tB, withBias, act}) + std::to_string(alpha);
    auto it = cache.find(k);
    if (it == cache.end()) {
      auto e = std::make_unique<Entry>();
      e->a = memory::desc({bA, M, K}, dt::f32, tA ? memory::dims{K * M, 1, M} : memory::dims{M * K, K, 1});
      e->b = memory::desc({bB, K, N}, dt::f32, tB ? memory::dims{N * K, 1, K} : memory::dims{K * N, N, 1});
      e->out = memory::desc({bO, M, N}, dt::f32, memory::dims{M * N, N, 1});
      e->bias = memory::desc({1, 1, N}, dt::f32, memory::dims{N, N, 1});
      auto d = withBias ? matmul::desc(e->a, e->b, e->bias, e->out) : matmul::desc(e->a, e->b, e->out);
      e->pd = matmul::primitive_desc(d, actAttr(act, alpha), eng());
      e->prim = matmul(e->pd);
      it = cache.emplace(k, std::move(e)).first;
    }
    Entry& e = *it->second;
    setLastImpl(e.pd.impl_info_str());
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, memory(e.a, eng(), heap + p.i(0))},
        {DNNL_ARG_WEIGHTS, memory(e.b, eng(), heap + p.i(1))},
        {DNNL_ARG_DST, memory(e.out, eng(), heap + p.i(3))},
    };
    if (withBias) args.emplace(DNNL_ARG_BIAS, memory(e.bias, eng(), heap + p.i(2)));
    e.prim.execute(strm(), args);
    strm().wait();
  });
}

}  // namespace poi
