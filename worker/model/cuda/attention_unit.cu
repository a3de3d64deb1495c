// DIN's activation unit on the device. Same folded first layer as
// worker/model/layers/attention_unit.cc:
//   [k, q, k-q, k*q] W = k (W1 + W3) + q (W2 - W3) + (k*q) W4,
// with the q term once per sample. Every position is computed; padding is
// masked (see cuda_layers.h for why and why the results are the same).
#include <glog/logging.h>

#include "worker/model/cuda/cuda_internal.h"
#include "worker/model/cuda/cuda_layers.h"

namespace dips {
namespace cuda {
namespace {

__device__ inline bool Valid(const float* mask, size_t pos) {
  return mask == nullptr || mask[pos] != 0.0f;
}

// folded[0 .. block) = W1 + W3, folded[block .. 2 block) = W4.
__global__ void FoldKernel(float* folded, const float* w1, size_t block) {
  DIPS_GRID_STRIDE(i, block) {
    folded[i] = w1[i] + w1[2 * block + i];
    folded[block + i] = w1[3 * block + i];
  }
}

// Row r of keys_kq = [k, k*q] (zero at padding, so padded keys, whatever
// they hold, cannot reach an output), and pre1 seeded with the sample's
// query term.
__global__ void PackKernel(float* kkq, float* pre1, const float* keys, const float* query,
                           const float* qt, const float* mask, int length, int dim, int h1,
                           size_t positions) {
  const int width = 2 * dim + h1;
  const size_t total = positions * width;
  DIPS_GRID_STRIDE(i, total) {
    const size_t pos = i / width;
    const int c = static_cast<int>(i % width);
    const size_t b = pos / length;
    if (c >= 2 * dim) {
      const int j = c - 2 * dim;
      pre1[pos * h1 + j] = qt[b * h1 + j];
      continue;
    }
    const int d = c % dim;
    float v = 0.0f;
    if (Valid(mask, pos)) {
      const float k = keys[pos * dim + d];
      v = c < dim ? k : k * query[b * dim + d];
    }
    kkq[pos * 2 * dim + c] = v;
  }
}

// scores = mask ? scores : 0 (written in place after the output layer).
__global__ void MaskScoresKernel(float* scores, const float* mask, size_t positions) {
  DIPS_GRID_STRIDE(i, positions) {
    if (!Valid(mask, i)) scores[i] = 0.0f;
  }
}

__global__ void MaskedCopyKernel(float* out, const float* in, const float* mask,
                                 size_t positions) {
  DIPS_GRID_STRIDE(i, positions) { out[i] = Valid(mask, i) ? in[i] : 0.0f; }
}

// dqt[b, j] = sum_t dpre1[b*length + t, j]: each position got its sample's
// query term. Padded rows of dpre1 are zero.
__global__ void SumOverStepsKernel(float* out, const float* in, int batch, int length,
                                   int width) {
  const size_t total = static_cast<size_t>(batch) * width;
  DIPS_GRID_STRIDE(i, total) {
    const size_t b = i / width;
    const int j = static_cast<int>(i % width);
    const float* src = in + b * length * width + j;
    float sum = 0.0f;
    for (int t = 0; t < length; ++t) sum += src[static_cast<size_t>(t) * width];
    out[i] = sum;
  }
}

// W1 and W3 share dWk (W3 also gets -q^T dqt, added by a GEMM), W4 has its
// own block.
__global__ void UnfoldGradKernel(float* gw1, const float* dfolded, size_t block) {
  DIPS_GRID_STRIDE(i, block) {
    gw1[i] += dfolded[i];
    gw1[2 * block + i] += dfolded[i];
    gw1[3 * block + i] += dfolded[block + i];
  }
}

// The product rule for k*q: dkeys += dk + dkq * q at valid positions.
__global__ void KeysGradKernel(float* dkeys, const float* dkkq, const float* query,
                               const float* mask, int length, int dim, size_t positions) {
  const size_t total = positions * dim;
  DIPS_GRID_STRIDE(i, total) {
    const size_t pos = i / dim;
    if (!Valid(mask, pos)) continue;
    const int d = static_cast<int>(i % dim);
    const float* row = dkkq + pos * 2 * dim;
    dkeys[i] += row[d] + row[dim + d] * query[(pos / length) * dim + d];
  }
}

// dquery[b, d] += sum over valid t of dkq[b,t,d] * k[b,t,d].
__global__ void QueryGradKernel(float* dquery, const float* dkkq, const float* keys,
                                const float* mask, int batch, int length, int dim) {
  const size_t total = static_cast<size_t>(batch) * dim;
  DIPS_GRID_STRIDE(i, total) {
    const size_t b = i / dim;
    const int d = static_cast<int>(i % dim);
    float sum = 0.0f;
    for (int t = 0; t < length; ++t) {
      const size_t pos = b * length + t;
      if (Valid(mask, pos)) sum += dkkq[pos * 2 * dim + dim + d] * keys[pos * dim + d];
    }
    dquery[i] += sum;
  }
}

void HiddenForward(float* out, DiceCache* dice, const float* pre, const float* alpha,
                   float* moving_mean, float* moving_var, const float* mask, bool training,
                   int n, int units, HiddenActivation activation, CudaContext* ctx) {
  switch (activation) {
    case HiddenActivation::kSigmoid:
      sigmoid_forward(out, pre, static_cast<size_t>(n) * units, ctx);
      return;
    case HiddenActivation::kPrelu:
      prelu_forward(out, pre, alpha, n, units, ctx);
      return;
    case HiddenActivation::kDice: {
      DiceShape shape;  // the unit's Dice uses the DiceShape defaults, as on the CPU
      shape.rows = n;
      shape.units = units;
      dice_forward(out, dice, pre, alpha, mask, training, moving_mean, moving_var, shape, ctx);
      return;
    }
  }
}

// dpre is overwritten (the kernels accumulate, so it is zeroed first).
void HiddenBackward(DeviceBuffer<float>* dpre, float* dalpha, const float* dout, DiceCache* dice,
                    const float* pre, const float* out, const float* alpha, const float* mask,
                    int n, int units, HiddenActivation activation, CudaContext* ctx) {
  const size_t total = static_cast<size_t>(n) * units;
  if (!dpre->GrowZeroed(total, ctx)) return;
  switch (activation) {
    case HiddenActivation::kSigmoid:
      sigmoid_backward(dpre->data(), dout, out, total, ctx);
      return;
    case HiddenActivation::kPrelu:
      prelu_backward(dpre->data(), dalpha, dout, pre, alpha, n, units, ctx);
      return;
    case HiddenActivation::kDice: {
      DiceShape shape;
      shape.rows = n;
      shape.units = units;
      dice_backward(dpre->data(), dalpha, dout, dice, pre, alpha, mask, shape, ctx);
      return;
    }
  }
}

}  // namespace

void attention_unit_forward(float* scores, AttentionUnitCache* cache,
                            const AttentionUnitWeights<float>& weights, const float* keys,
                            const float* query, const float* mask, bool training,
                            const AttentionUnitShape& shape, CudaContext* ctx) {
  const int batch = shape.batch, length = shape.length, dim = shape.dim;
  const int h1 = shape.hidden1, h2 = shape.hidden2;
  const size_t n = static_cast<size_t>(batch) * length;
  cache->training = training;
  if (!ctx->ok() || n == 0) return;
  const size_t block = static_cast<size_t>(dim) * h1;
  if (!cache->folded_w.Grow(2 * block, ctx) ||
      !cache->query_term.Grow(static_cast<size_t>(batch) * h1, ctx) ||
      !cache->keys_kq.Grow(n * 2 * dim, ctx) || !cache->pre1.Grow(n * h1, ctx) ||
      !cache->out1.Grow(n * h1, ctx) || !cache->pre2.Grow(n * h2, ctx) ||
      !cache->out2.Grow(n * h2, ctx)) {
    return;
  }
  cudaStream_t stream = StreamOf(ctx);
  FoldKernel<<<BlocksFor(block), kThreads, 0, stream>>>(cache->folded_w.data(), weights.w1, block);
  RecordLaunch(ctx, "AttentionFold");

  // The query term, once per sample: b1 + q W2 - q W3.
  float* qt = cache->query_term.data();
  const float* w1_q = weights.w1 + block;
  const float* w1_d = weights.w1 + 2 * block;
  linear_forward(qt, query, w1_q, weights.b1, batch, dim, h1, ctx);
  Gemm(ctx, false, false, batch, h1, dim, -1.0f, query, dim, w1_d, h1, 1.0f, qt, h1);

  const size_t pack = n * (2 * dim + h1);
  PackKernel<<<BlocksFor(pack), kThreads, 0, stream>>>(cache->keys_kq.data(), cache->pre1.data(),
                                                       keys, query, qt, mask, length, dim, h1, n);
  RecordLaunch(ctx, "AttentionPack");
  Gemm(ctx, false, false, static_cast<int>(n), h1, 2 * dim, 1.0f, cache->keys_kq.data(), 2 * dim,
       cache->folded_w.data(), h1, 1.0f, cache->pre1.data(), h1);

  HiddenForward(cache->out1.data(), &cache->dice1, cache->pre1.data(), weights.act1,
                weights.dice1_moving_mean, weights.dice1_moving_var, mask, training,
                static_cast<int>(n), h1, shape.activation, ctx);
  linear_forward(cache->pre2.data(), cache->out1.data(), weights.w2, weights.b2,
                 static_cast<int>(n), h1, h2, ctx);
  HiddenForward(cache->out2.data(), &cache->dice2, cache->pre2.data(), weights.act2,
                weights.dice2_moving_mean, weights.dice2_moving_var, mask, training,
                static_cast<int>(n), h2, shape.activation, ctx);
  linear_forward(scores, cache->out2.data(), weights.w3, weights.b3, static_cast<int>(n), h2, 1,
                 ctx);
  MaskScoresKernel<<<BlocksFor(n), kThreads, 0, stream>>>(scores, mask, n);
  RecordLaunch(ctx, "AttentionMaskScores");
}

void attention_unit_backward(float* dkeys, float* dquery, const AttentionUnitGrads<float>& grads,
                             const float* dscores, AttentionUnitCache* cache,
                             const AttentionUnitWeights<float>& weights, const float* keys,
                             const float* query, const float* mask,
                             const AttentionUnitShape& shape, CudaContext* ctx) {
  const int batch = shape.batch, length = shape.length, dim = shape.dim;
  const int h1 = shape.hidden1, h2 = shape.hidden2;
  const size_t n = static_cast<size_t>(batch) * length;
  const int rows = static_cast<int>(n);
  if (!ctx->ok() || n == 0) return;
  const size_t block = static_cast<size_t>(dim) * h1;
  CHECK_GE(cache->folded_w.size(), 2 * block)
      << "attention_unit_backward needs the cache of a forward with the same shape";
  if (!cache->dscore.Grow(n, ctx) || !cache->dout2.Grow(n * h2, ctx) ||
      !cache->dout1.Grow(n * h1, ctx) ||
      !cache->dquery_term.Grow(static_cast<size_t>(batch) * h1, ctx)) {
    return;
  }
  cudaStream_t stream = StreamOf(ctx);

  // Only valid positions' incoming gradient counts.
  float* dscore = cache->dscore.data();
  MaskedCopyKernel<<<BlocksFor(n), kThreads, 0, stream>>>(dscore, dscores, mask, n);
  RecordLaunch(ctx, "AttentionMaskGrad");

  // Output layer: dout2 = dscore w3^T (an outer product).
  Gemm(ctx, false, true, rows, h2, 1, 1.0f, dscore, 1, weights.w3, 1, 0.0f, cache->dout2.data(),
       h2);
  linear_backward(nullptr, grads.w3, grads.b3, dscore, cache->out2.data(), weights.w3, rows, h2,
                  1, ctx);
  HiddenBackward(&cache->dpre2, grads.act2, cache->dout2.data(), &cache->dice2,
                 cache->pre2.data(), cache->out2.data(), weights.act2, mask, rows, h2,
                 shape.activation, ctx);

  // Second layer.
  Gemm(ctx, false, true, rows, h1, h2, 1.0f, cache->dpre2.data(), h2, weights.w2, h2, 0.0f,
       cache->dout1.data(), h1);
  linear_backward(nullptr, grads.w2, grads.b2, cache->dpre2.data(), cache->out1.data(),
                  weights.w2, rows, h1, h2, ctx);
  HiddenBackward(&cache->dpre1, grads.act1, cache->dout1.data(), &cache->dice1,
                 cache->pre1.data(), cache->out1.data(), weights.act1, mask, rows, h1,
                 shape.activation, ctx);
  if (!ctx->ok()) return;
  const float* dpre1 = cache->dpre1.data();

  // First layer, query side.
  float* dqt = cache->dquery_term.data();
  const size_t qn = static_cast<size_t>(batch) * h1;
  SumOverStepsKernel<<<BlocksFor(qn), kThreads, 0, stream>>>(dqt, dpre1, batch, length, h1);
  RecordLaunch(ctx, "AttentionQueryTermGrad");
  if (grads.b1 != nullptr) ColumnAccumulate(grads.b1, batch, h1, MatrixEntry{dqt, h1}, ctx);

  if (grads.w1 != nullptr) {
    if (!cache->dfolded_w.Grow(2 * block, ctx)) return;
    float* dfolded = cache->dfolded_w.data();
    Gemm(ctx, true, false, 2 * dim, h1, rows, 1.0f, cache->keys_kq.data(), 2 * dim, dpre1, h1,
         0.0f, dfolded, h1);
    UnfoldGradKernel<<<BlocksFor(block), kThreads, 0, stream>>>(grads.w1, dfolded, block);
    RecordLaunch(ctx, "AttentionUnfoldGrad");
    Gemm(ctx, true, false, dim, h1, batch, 1.0f, query, dim, dqt, h1, 1.0f, grads.w1 + block, h1);
    Gemm(ctx, true, false, dim, h1, batch, -1.0f, query, dim, dqt, h1, 1.0f,
         grads.w1 + 2 * block, h1);
  }

  if (dkeys != nullptr || dquery != nullptr) {
    if (!cache->dkeys_kq.Grow(n * 2 * dim, ctx)) return;
    float* dkkq = cache->dkeys_kq.data();
    Gemm(ctx, false, true, rows, 2 * dim, h1, 1.0f, dpre1, h1, cache->folded_w.data(), h1, 0.0f,
         dkkq, 2 * dim);
    if (dkeys != nullptr) {
      KeysGradKernel<<<BlocksFor(n * dim), kThreads, 0, stream>>>(dkeys, dkkq, query, mask,
                                                                  length, dim, n);
      RecordLaunch(ctx, "AttentionKeysGrad");
    }
    if (dquery != nullptr) {
      const size_t total = static_cast<size_t>(batch) * dim;
      QueryGradKernel<<<BlocksFor(total), kThreads, 0, stream>>>(dquery, dkkq, keys, mask, batch,
                                                                 length, dim);
      RecordLaunch(ctx, "AttentionQueryGrad");
    }
  }
  if (dquery != nullptr) {
    const float* w1_q = weights.w1 + block;
    const float* w1_d = weights.w1 + 2 * block;
    Gemm(ctx, false, true, batch, dim, h1, 1.0f, dqt, h1, w1_q, h1, 1.0f, dquery, dim);
    Gemm(ctx, false, true, batch, dim, h1, -1.0f, dqt, h1, w1_d, h1, 1.0f, dquery, dim);
  }
}

}  // namespace cuda
}  // namespace dips
