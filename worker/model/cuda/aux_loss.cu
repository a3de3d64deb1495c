// DIEN's auxiliary loss on the device: the computation of
// worker/model/layers/aux_loss.cc over every position instead of the packed
// pairs (cuda_layers.h says why, and why the results are the same).
//
// Rows: r in [0, N) scores position p = r against the real next behaviour
// (label 1), r in [N, 2N) scores p = r - N against the negative (label 0).
// Position p = b*length + t is a pair when t + 1 < lengths[b]; then p + 1
// is (b, t + 1) of the same sequence. Every kernel reads p + 1 only after
// checking that, so no index leaves its sequence.
#include <glog/logging.h>

#include <climits>

#include "worker/model/cuda/cuda_internal.h"
#include "worker/model/cuda/cuda_layers.h"

namespace dips {
namespace cuda {
namespace {

// valid[p] = 1 if (b, t) has a next behaviour, else 0.
__global__ void PairMaskKernel(float* valid, const int32_t* lengths, int length, size_t n) {
  DIPS_GRID_STRIDE(p, n) {
    const size_t b = p / length;
    const int t = static_cast<int>(p % length);
    valid[p] = t + 1 < lengths[b] ? 1.0f : 0.0f;
  }
}

// MLP input rows: [h_p, e_{p+1}] (r < N) or [h_p, neg_{p+1}] (r >= N);
// zero where p is no pair.
__global__ void AuxInputKernel(float* x, const float* hidden, const float* behaviours,
                               const float* negatives, const float* valid, size_t n, int H,
                               int D) {
  const int width = H + D;
  const size_t total = 2 * n * width;
  DIPS_GRID_STRIDE(i, total) {
    const size_t r = i / width;
    const int c = static_cast<int>(i % width);
    const size_t p = r < n ? r : r - n;
    float v = 0.0f;
    if (valid[p] != 0.0f) {
      if (c < H) {
        v = hidden[p * H + c];
      } else {
        const float* next = r < n ? behaviours : negatives;
        v = next[(p + 1) * D + (c - H)];
      }
    }
    x[i] = v;
  }
}

// Inner-product logits: h_p . e_{p+1} or h_p . neg_{p+1} (H == D); 0 where
// p is no pair.
__global__ void AuxDotKernel(float* logits, const float* hidden, const float* behaviours,
                             const float* negatives, const float* valid, size_t n, int H) {
  DIPS_GRID_STRIDE(r, 2 * n) {
    const size_t p = r < n ? r : r - n;
    float dot = 0.0f;
    if (valid[p] != 0.0f) {
      const float* h = hidden + p * H;
      const float* e = (r < n ? behaviours : negatives) + (p + 1) * H;
      for (int j = 0; j < H; ++j) dot += h[j] * e[j];
    }
    logits[r] = dot;
  }
}

// One block: probabilities of every row, and the mean BCE over the rows of
// pairs (summed in double, as on the CPU) into *loss; *count = 2 * pairs.
constexpr int kLossThreads = 256;

__global__ void AuxBceForwardKernel(float* probs, float* loss, float* count, const float* logits,
                                    const float* valid, size_t n) {
  __shared__ double partial[kLossThreads];
  __shared__ unsigned long long pairs[kLossThreads];
  double total = 0.0;
  unsigned long long valid_rows = 0;
  for (size_t r = threadIdx.x; r < 2 * n; r += kLossThreads) {
    const size_t p = r < n ? r : r - n;
    const float z = logits[r];
    const float e = expf(-fabsf(z));
    probs[r] = z >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
    if (valid[p] != 0.0f) {
      const double label = r < n ? 1.0 : 0.0;
      total += static_cast<double>(z > 0.0f ? z : 0.0f) - static_cast<double>(z) * label +
               log1p(static_cast<double>(e));
      ++valid_rows;
    }
  }
  partial[threadIdx.x] = total;
  pairs[threadIdx.x] = valid_rows;
  __syncthreads();
  for (int s = kLossThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) {
      partial[threadIdx.x] += partial[threadIdx.x + s];
      pairs[threadIdx.x] += pairs[threadIdx.x + s];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    const unsigned long long rows = pairs[0];  // 2 * pairs
    *count = static_cast<float>(rows);
    *loss = rows > 0 ? static_cast<float>(partial[0] / static_cast<double>(rows)) : 0.0f;
  }
}

// dlogits[r] = scale / (2 pairs) * (prob - label) on rows of pairs, else 0
// (overwritten: the buffer is this layer's scratch).
__global__ void AuxBceBackwardKernel(float* dlogits, const float* probs, const float* valid,
                                     const float* count, size_t n, float scale) {
  const float rows = *count;
  DIPS_GRID_STRIDE(r, 2 * n) {
    const size_t p = r < n ? r : r - n;
    float g = 0.0f;
    if (valid[p] != 0.0f && rows > 0.0f) {
      const float k = scale / rows;
      g = k * (probs[r] - (r < n ? 1.0f : 0.0f));
    }
    dlogits[r] = g;
  }
}

// Inner product, dL/dh_p: dlogit_pos * e_{p+1} + dlogit_neg * neg_{p+1}.
__global__ void AuxDotHiddenGradKernel(float* dhidden, const float* dlogits,
                                       const float* behaviours, const float* negatives,
                                       const float* valid, size_t n, int H) {
  DIPS_GRID_STRIDE(i, n * H) {
    const size_t p = i / H;
    const int j = static_cast<int>(i % H);
    if (valid[p] == 0.0f) continue;
    const size_t next = (p + 1) * H + j;
    dhidden[i] += dlogits[p] * behaviours[next] + dlogits[n + p] * negatives[next];
  }
}

// Inner product, dL/de_q and dL/dneg_q for q = p + 1 (t >= 1): the
// dlogits of p = q - 1 times h_p (H == D, so h rows are D wide). Each
// output element has one writer.
__global__ void AuxDotInputGradKernel(float* dbehaviours, float* dnegatives,
                                      const float* dlogits, const float* hidden,
                                      const float* valid, size_t n, int length, int D) {
  DIPS_GRID_STRIDE(i, n * D) {
    const size_t q = i / D;
    const int j = static_cast<int>(i % D);
    if (q % length == 0 || valid[q - 1] == 0.0f) continue;
    const float h = hidden[(q - 1) * D + j];
    if (dbehaviours != nullptr) dbehaviours[i] += dlogits[q - 1] * h;
    if (dnegatives != nullptr) dnegatives[i] += dlogits[n + q - 1] * h;
  }
}

// MLP, dL/dh_p: the h part of both of the position's input rows.
__global__ void AuxMlpHiddenGradKernel(float* dhidden, const float* dinput, const float* valid,
                                       size_t n, int H, int width) {
  DIPS_GRID_STRIDE(i, n * H) {
    const size_t p = i / H;
    const int j = static_cast<int>(i % H);
    if (valid[p] == 0.0f) continue;
    dhidden[i] += dinput[p * width + j] + dinput[(n + p) * width + j];
  }
}

// MLP, dL/de_q and dL/dneg_q (q = p + 1): the e part of p's positive and
// negative rows.
__global__ void AuxMlpInputGradKernel(float* dbehaviours, float* dnegatives, const float* dinput,
                                      const float* valid, size_t n, int length, int H, int D) {
  const int width = H + D;
  DIPS_GRID_STRIDE(i, n * D) {
    const size_t q = i / D;
    const int j = static_cast<int>(i % D);
    if (q % length == 0 || valid[q - 1] == 0.0f) continue;
    const size_t p = q - 1;
    if (dbehaviours != nullptr) dbehaviours[i] += dinput[p * width + H + j];
    if (dnegatives != nullptr) dnegatives[i] += dinput[(n + p) * width + H + j];
  }
}

void CheckShape(const AuxLossShape& s) {
  CHECK(s.batch >= 0 && s.length >= 1 && s.hidden >= 1 && s.dim >= 1) << "bad aux loss shape";
  CHECK(s.kind == AuxNetKind::kMlp || s.hidden == s.dim)
      << "inner-product aux loss needs hidden == dim";
  CHECK(s.kind != AuxNetKind::kMlp || (s.hidden1 >= 1 && s.hidden2 >= 1));
  // Row counts go to cuBLAS as int.
  CHECK_LE(2 * static_cast<size_t>(s.batch) * s.length, static_cast<size_t>(INT_MAX));
}

}  // namespace

void aux_loss_forward(float* loss, AuxLossCache* cache, const AuxNetWeights<float>& weights,
                      const float* hidden, const float* behaviours, const float* negatives,
                      const int32_t* lengths, const AuxLossShape& shape, CudaContext* ctx) {
  CheckShape(shape);
  const int H = shape.hidden, D = shape.dim;
  const size_t n = static_cast<size_t>(shape.batch) * shape.length;
  if (!ctx->ok()) return;
  if (n == 0) {
    ZeroBytes(loss, sizeof(float), ctx);
    return;
  }
  const int rows = static_cast<int>(2 * n);
  if (!cache->valid.Grow(n, ctx) || !cache->count.Grow(1, ctx) ||
      !cache->logits.Grow(2 * n, ctx) || !cache->probs.Grow(2 * n, ctx)) {
    return;
  }
  float* valid = cache->valid.data();
  PairMaskKernel<<<BlocksFor(n), kThreads, 0, StreamOf(ctx)>>>(valid, lengths, shape.length, n);
  RecordLaunch(ctx, "AuxPairMask");
  float* logits = cache->logits.data();
  if (shape.kind == AuxNetKind::kInnerProduct) {
    AuxDotKernel<<<BlocksFor(2 * n), kThreads, 0, StreamOf(ctx)>>>(logits, hidden, behaviours,
                                                                   negatives, valid, n, H);
    RecordLaunch(ctx, "AuxDot");
  } else {
    const int in = H + D, h1 = shape.hidden1, h2 = shape.hidden2;
    if (!cache->input.Grow(2 * n * in, ctx) || !cache->pre1.Grow(2 * n * h1, ctx) ||
        !cache->out1.Grow(2 * n * h1, ctx) || !cache->pre2.Grow(2 * n * h2, ctx) ||
        !cache->out2.Grow(2 * n * h2, ctx)) {
      return;
    }
    float* x = cache->input.data();
    AuxInputKernel<<<BlocksFor(2 * n * in), kThreads, 0, StreamOf(ctx)>>>(
        x, hidden, behaviours, negatives, valid, n, H, D);
    RecordLaunch(ctx, "AuxInput");
    linear_forward(cache->pre1.data(), x, weights.w1, weights.b1, rows, in, h1, ctx);
    sigmoid_forward(cache->out1.data(), cache->pre1.data(), 2 * n * h1, ctx);
    linear_forward(cache->pre2.data(), cache->out1.data(), weights.w2, weights.b2, rows, h1, h2,
                   ctx);
    sigmoid_forward(cache->out2.data(), cache->pre2.data(), 2 * n * h2, ctx);
    linear_forward(logits, cache->out2.data(), weights.w3, weights.b3, rows, h2, 1, ctx);
  }
  if (!ctx->ok()) return;
  AuxBceForwardKernel<<<1, kLossThreads, 0, StreamOf(ctx)>>>(cache->probs.data(), loss,
                                                            cache->count.data(), logits, valid, n);
  RecordLaunch(ctx, "AuxBceForward");
}

void aux_loss_backward(float* dhidden, float* dbehaviours, float* dnegatives,
                       const AuxNetGrads<float>& grads, float scale, AuxLossCache* cache,
                       const AuxNetWeights<float>& weights, const float* hidden,
                       const float* behaviours, const float* negatives, const int32_t* lengths,
                       const AuxLossShape& shape, CudaContext* ctx) {
  CheckShape(shape);
  const int H = shape.hidden, D = shape.dim, L = shape.length;
  const size_t n = static_cast<size_t>(shape.batch) * L;
  if (!ctx->ok() || n == 0) return;
  CHECK(cache->probs.size() >= 2 * n && cache->valid.size() >= n)
      << "aux_loss_backward needs the cache of its forward";
  if (!cache->dlogits.Grow(2 * n, ctx)) return;
  const float* valid = cache->valid.data();
  float* dlogits = cache->dlogits.data();
  AuxBceBackwardKernel<<<BlocksFor(2 * n), kThreads, 0, StreamOf(ctx)>>>(
      dlogits, cache->probs.data(), valid, cache->count.data(), n, scale);
  RecordLaunch(ctx, "AuxBceBackward");

  if (shape.kind == AuxNetKind::kInnerProduct) {
    if (dhidden != nullptr) {
      AuxDotHiddenGradKernel<<<BlocksFor(n * H), kThreads, 0, StreamOf(ctx)>>>(
          dhidden, dlogits, behaviours, negatives, valid, n, H);
      RecordLaunch(ctx, "AuxDotHiddenGrad");
    }
    if (dbehaviours != nullptr || dnegatives != nullptr) {
      AuxDotInputGradKernel<<<BlocksFor(n * D), kThreads, 0, StreamOf(ctx)>>>(
          dbehaviours, dnegatives, dlogits, hidden, valid, n, L, D);
      RecordLaunch(ctx, "AuxDotInputGrad");
    }
    return;
  }

  const int rows = static_cast<int>(2 * n);
  const int in = H + D, h1 = shape.hidden1, h2 = shape.hidden2;
  const size_t n1 = 2 * n * h1, n2 = 2 * n * h2;
  CHECK(cache->out2.size() >= n2 && cache->input.size() >= 2 * n * in)
      << "aux_loss_backward needs the cache of its forward";
  if (!cache->dout2.GrowZeroed(n2, ctx) || !cache->dpre2.GrowZeroed(n2, ctx) ||
      !cache->dout1.GrowZeroed(n1, ctx) || !cache->dpre1.GrowZeroed(n1, ctx) ||
      !cache->dinput.GrowZeroed(2 * n * in, ctx)) {
    return;
  }
  linear_backward(cache->dout2.data(), grads.w3, grads.b3, dlogits, cache->out2.data(),
                  weights.w3, rows, h2, 1, ctx);
  sigmoid_backward(cache->dpre2.data(), cache->dout2.data(), cache->out2.data(), n2, ctx);
  linear_backward(cache->dout1.data(), grads.w2, grads.b2, cache->dpre2.data(),
                  cache->out1.data(), weights.w2, rows, h1, h2, ctx);
  sigmoid_backward(cache->dpre1.data(), cache->dout1.data(), cache->out1.data(), n1, ctx);
  linear_backward(cache->dinput.data(), grads.w1, grads.b1, cache->dpre1.data(),
                  cache->input.data(), weights.w1, rows, in, h1, ctx);
  if (!ctx->ok()) return;
  const float* dinput = cache->dinput.data();
  if (dhidden != nullptr) {
    AuxMlpHiddenGradKernel<<<BlocksFor(n * H), kThreads, 0, StreamOf(ctx)>>>(dhidden, dinput,
                                                                            valid, n, H, in);
    RecordLaunch(ctx, "AuxMlpHiddenGrad");
  }
  if (dbehaviours != nullptr || dnegatives != nullptr) {
    AuxMlpInputGradKernel<<<BlocksFor(n * D), kThreads, 0, StreamOf(ctx)>>>(
        dbehaviours, dnegatives, dinput, valid, n, L, H, D);
    RecordLaunch(ctx, "AuxMlpInputGrad");
  }
}

}  // namespace cuda
}  // namespace dips
