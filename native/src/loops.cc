// Kernels written as plain loops (OpenMP over the batch): MaxPoolGrad with tfjs-backend-cpu's exact
// semantics (running max from -inf, strict '>', first maximum in row-major window order wins,
// padding skipped), broadcasting elementwise Add/Sub/Mul/Div and PReLU, and PReLU's gradient.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

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
enum Op { ADD = 0, SUB = 1, MUL = 2, DIV = 3, PRELU = 4 };
template <int OP>
inline float apply(float a, float b) {
  if (OP == ADD) return a + b;
  if (OP == SUB) return a - b;
  if (OP == MUL) return a * b;
  if (OP == PRELU) {  // tfjs' kernels: x < 0 ? alpha * x : x (both sides computed: a select, no branch)
    const float m = a * b;
    return a < 0.f ? m : a;
  }
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
    // vector code, so PReLU's select is a blend rather than a branch that random signs mispredict
    // (10-20x slower); GCC only if-converts it with -fno-trapping-math (binding.gyp)
    if (sa[3] == 1 && sb[3] == 1) {
#pragma omp simd
      for (int64_t k = 0; k < inner; k++) po[k] = apply<OP>(pa[k], pb[k]);
    } else if (sa[3] == 1 && sb[3] == 0) {
      const float vb = *pb;
#pragma omp simd
      for (int64_t k = 0; k < inner; k++) po[k] = apply<OP>(pa[k], vb);
    } else if (sa[3] == 0 && sb[3] == 1) {
      const float va = *pa;
#pragma omp simd
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
      case PRELU: binary4<PRELU>(a, b, o, d, sa, sb); break;
      default: throw std::runtime_error("unknown op");
    }
  });
}

// PReLU's gradient in one pass, as tfjs-core's Prelu gradient defines it (mask = x > 0):
//   dx = mask ? dy : dy * alpha;   dalpha = sum over alpha's broadcast dims of (mask ? 0 : dy * x).
// x, dy and dx have the output's shape (contiguous); alpha is addressed through its broadcast
// strides over the collapsed 4-d output. Each thread sums into its own alpha-sized float buffer,
// flushed into a double one every `flushRows` rows (float keeps the loop vectorised: GCC does not
// vectorise the float-to-double accumulation), and the threads' buffers are added at the end.
namespace {
// One row of PReLU's gradient with alpha contiguous along it. Both sides of each select are
// computed, in vector code: x's signs are random, so a branch would mispredict half the time (10x
// slower). GCC (12) vectorises this only out of line, without __restrict (with it, it turns the
// accumulation into a conditional store), and with -fno-trapping-math (binding.gyp).
__attribute__((noinline)) void preluGradRow(const float* px, const float* pg, const float* pa, float* pd, float* pacc, int64_t n) {
#pragma omp simd
  for (int64_t k = 0; k < n; k++) {
    const float v = px[k], g = pg[k], ga = g * pa[k], gv = g * v;
    const bool pos = v > 0.f;
    pd[k] = pos ? g : ga;
    pacc[k] += pos ? 0.f : gv;
  }
}
// The same with one alpha for the row; returns the row's sum of (x > 0 ? 0 : dy * x).
__attribute__((noinline)) float preluGradRowScalar(const float* px, const float* pg, float a, float* pd, int64_t n) {
  float s = 0.f;
#pragma omp simd reduction(+ : s)
  for (int64_t k = 0; k < n; k++) {
    const float v = px[k], g = pg[k], ga = g * a, gv = g * v;
    const bool pos = v > 0.f;
    pd[k] = pos ? g : ga;
    s += pos ? 0.f : gv;
  }
  return s;
}
}  // namespace

// params: [xOff, alphaOff, dyOff, dxOff, daOff, alphaSize, d0..d3, sa0..sa3]
Napi::Value PreluGrad(const Napi::CallbackInfo& info) {
  return guarded(info, "PreluGrad", [&] {
    uint8_t* heap = heapBase(info[0]);
    Params p(info[1]);
    if (!heap || !p.ok || p.n < 14) throw std::runtime_error("bad arguments");
    const float* x = reinterpret_cast<const float*>(heap + p.i(0));
    const float* al = reinterpret_cast<const float*>(heap + p.i(1));
    const float* dy = reinterpret_cast<const float*>(heap + p.i(2));
    float* dx = reinterpret_cast<float*>(heap + p.i(3));
    float* da = reinterpret_cast<float*>(heap + p.i(4));
    const int64_t asz = p.i(5);
    int64_t d[4], sa[4];
    for (int k = 0; k < 4; k++) {
      d[k] = p.i(6 + k);
      sa[k] = p.i(10 + k);
    }
    const int64_t outer = d[0] * d[1] * d[2];
    const int64_t inner = d[3];
    const bool big = outer * inner >= (1 << 15);
    const int nt = big ? omp_get_max_threads() : 1;
    // a flush costs asz; rows add inner each: flushing every asz/inner rows (at least 256) stays cheap
    const int64_t flushRows = std::max<int64_t>(256, (asz + inner - 1) / inner);
    constexpr int64_t BLOCK = 4096;  // a long row (one alpha for many elements) is summed in blocks
    std::vector<double> part(static_cast<size_t>(nt) * asz, 0.0);
#pragma omp parallel num_threads(nt) if (big)
    {
      double* acc = part.data() + static_cast<size_t>(omp_get_thread_num()) * asz;
      std::vector<float> accF(asz, 0.f);
      int64_t rows = 0;
#pragma omp for schedule(static)
      for (int64_t r = 0; r < outer; r++) {
        const int64_t i0 = r / (d[1] * d[2]), i1 = (r / d[2]) % d[1], i2 = r % d[2];
        const int64_t ao = i0 * sa[0] + i1 * sa[1] + i2 * sa[2];
        const float* px = x + r * inner;
        const float* pg = dy + r * inner;
        float* pd = dx + r * inner;
        if (sa[3] == 0) {  // one alpha for the whole row
          const float a = al[ao];
          double s = 0;
          for (int64_t k0 = 0; k0 < inner; k0 += BLOCK)
            s += preluGradRowScalar(px + k0, pg + k0, a, pd + k0, std::min(BLOCK, inner - k0));
          acc[ao] += s;
          continue;
        }
        const float* pa = al + ao;
        float* pacc = accF.data() + ao;
        if (sa[3] == 1) {
          preluGradRow(px, pg, pa, pd, pacc, inner);
        } else {
          for (int64_t k = 0; k < inner; k++) {
            const float v = px[k], g = pg[k], ga = g * pa[k * sa[3]], gv = g * v;
            const bool pos = v > 0.f;
            pd[k] = pos ? g : ga;
            pacc[k * sa[3]] += pos ? 0.f : gv;
          }
        }
        if (++rows == flushRows) {
          for (int64_t j = 0; j < asz; j++) {
            acc[j] += accF[j];
            accF[j] = 0.f;
          }
          rows = 0;
        }
      }
      for (int64_t j = 0; j < asz; j++) acc[j] += accF[j];
    }
    for (int64_t j = 0; j < asz; j++) {
      double s = 0;
      for (int t = 0; t < nt; t++) s += part[static_cast<size_t>(t) * asz + j];
      da[j] = static_cast<float>(s);
    }
  });
}

}  // namespace poi
