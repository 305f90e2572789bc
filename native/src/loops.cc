// Kernels written as plain loops (OpenMP over the batch): MaxPoolGrad with tfjs-backend-cpu's exact
// semantics (running max from -inf, strict '>', first maximum in row-major window order wins,
// padding skipped), and broadcasting elementwise Add/Sub/Mul/Div.
#include <omp.h>

#include <cmath>

#include "common.h"

namespace poi {

// params: [xOff, dyOff, dxOff, N, H, W, C, oh, ow, sh, sw, fh, fw, top, left]
Napi::Value MaxPoolGrad(const Napi::CallbackInfo& info) {
  return guarded(info, "MaxPoolGrad", [&] {
    uint8_t* heap = heapBase(info[0]);
    Params p(info[1]);
    if (!heap || !p.ok || p.n < 15) throw std::runtime_error("bad arguments");
    const float* x = reinterpret_cast<const float*>(heap + p.i(0));
    const float* g = reinterpret_cast<const float*>(heap + p.i(1));
    float* dx = reinterpret_cast<float*>(heap + p.i(2));
    const int64_t N = p.i(3), H = p.i(4), W = p.i(5), C = p.i(6), oh = p.i(7), ow = p.i(8);
    const int64_t sh = p.i(9), sw = p.i(10), fh = p.i(11), fw = p.i(12), top = p.i(13), left = p.i(14);
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; n++) {
      const float* xi = x + n * H * W * C;
      float* di = dx + n * H * W * C;
      for (int64_t k = 0; k < H * W * C; k++) di[k] = 0.f;
      for (int64_t i = 0; i < oh; i++) {
        const int64_t h0 = i * sh - top;
        const int64_t hs = h0 < 0 ? 0 : h0, he = h0 + fh < H ? h0 + fh : H;
        for (int64_t j = 0; j < ow; j++) {
          const int64_t w0 = j * sw - left;
          const int64_t ws = w0 < 0 ? 0 : w0, we = w0 + fw < W ? w0 + fw : W;
          const float* gi = g + ((n * oh + i) * ow + j) * C;
          for (int64_t c = 0; c < C; c++) {
            float best = -INFINITY;
            int64_t at = -1;
            for (int64_t r = hs; r < he; r++) {
              for (int64_t s = ws; s < we; s++) {
                const int64_t q = (r * W + s) * C + c;
                const float v = xi[q];
                if (v > best) {
                  best = v;
                  at = q;
                }
              }
            }
            if (at >= 0) di[at] += gi[c];
          }
        }
      }
    }
  });
}

namespace {
enum Op { ADD = 0, SUB = 1, MUL = 2, DIV = 3 };
template <int OP>
inline float apply(float a, float b) {
  if (OP == ADD) return a + b;
  if (OP == SUB) return a - b;
  if (OP == MUL) return a * b;
  return a / b;
}
// out[i0,i1,i2,i3] = a[.] op b[.] over a 4-d output with per-input element strides (0 = broadcast).
template <int OP>
void binary4(const float* a, const float* b, float* o, const int64_t* d, const int64_t* sa, const int64_t* sb) {
  const int64_t outer = d[0] * d[1] * d[2];
  const int64_t inner = d[3];
  const bool big = outer * inner >= (1 << 15);
#pragma omp parallel for schedule(static) if (big)
  for (int64_t r = 0; r < outer; r++) {
    const int64_t i0 = r / (d[1] * d[2]), i1 = (r / d[2]) % d[1], i2 = r % d[2];
    const float* pa = a + i0 * sa[0] + i1 * sa[1] + i2 * sa[2];
    const float* pb = b + i0 * sb[0] + i1 * sb[1] + i2 * sb[2];
    float* po = o + r * inner;
    if (sa[3] == 1 && sb[3] == 1) {
      for (int64_t k = 0; k < inner; k++) po[k] = apply<OP>(pa[k], pb[k]);
    } else if (sa[3] == 1 && sb[3] == 0) {
      const float vb = *pb;
      for (int64_t k = 0; k < inner; k++) po[k] = apply<OP>(pa[k], vb);
    } else if (sa[3] == 0 && sb[3] == 1) {
      const float va = *pa;
      for (int64_t k = 0; k < inner; k++) po[k] = apply<OP>(va, pb[k]);
    } else {
      for (int64_t k = 0; k < inner; k++) po[k] = apply<OP>(pa[k * sa[3]], pb[k * sb[3]]);
    }
  }
}
}  // namespace

// params: [aOff, bOff, outOff, op, d0..d3, sa0..sa3, sb0..sb3]
Napi::Value Binary(const Napi::CallbackInfo& info) {
  return guarded(info, "binary", [&] {
    uint8_t* heap = heapBase(info[0]);
    Params p(info[1]);
    if (!heap || !p.ok || p.n < 16) throw std::runtime_error("bad arguments");
    const float* a = reinterpret_cast<const float*>(heap + p.i(0));
    const float* b = reinterpret_cast<const float*>(heap + p.i(1));
    float* o = reinterpret_cast<float*>(heap + p.i(2));
    int64_t d[4], sa[4], sb[4];
    for (int k = 0; k < 4; k++) {
      d[k] = p.i(4 + k);
      sa[k] = p.i(8 + k);
      sb[k] = p.i(12 + k);
    }
    switch (p.i(3)) {
      case ADD: binary4<ADD>(a, b, o, d, sa, sb); break;
      case SUB: binary4<SUB>(a, b, o, d, sa, sb); break;
      case MUL: binary4<MUL>(a, b, o, d, sa, sb); break;
      case DIV: binary4<DIV>(a, b, o, d, sa, sb); break;
      default: throw std::runtime_error("unknown op");
    }
  });
}

}  // namespace poi
