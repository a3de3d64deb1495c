#include "worker/model/layers/attention_unit.h"

// `#pragma omp simd` marks the element-wise loops: at -O2 GCC only vectorises
// loops whose trip count it knows, and these loops have no dependence between
// iterations (outputs never alias inputs of another index).

#include <glog/logging.h>

#include <algorithm>
#include <cstddef>

#include "worker/model/layers/activations.h"
#include "worker/model/layers/gemm.h"
#include "worker/model/layers/linear.h"

namespace dips {
namespace {

// The hidden activation of one layer of the unit, over its n packed rows.
// Dice sees only valid rows (the unit packs them), so it needs no mask.
template <typename T>
void HiddenForward(T* out, DiceCache<T>* dice, const T* pre, const T* alpha, T* moving_mean,
                   T* moving_var, bool training, int n, int units, HiddenActivation activation) {
  switch (activation) {
    case HiddenActivation::kSigmoid:
      sigmoid_forward(out, pre, static_cast<size_t>(n) * units);
      return;
    case HiddenActivation::kPrelu:
      prelu_forward(out, pre, alpha, n, units);
      return;
    case HiddenActivation::kDice: {
      DiceShape shape;
      shape.rows = n;
      shape.units = units;
      dice_forward(out, dice, pre, alpha, static_cast<const T*>(nullptr), training, moving_mean,
                   moving_var, shape);
      return;
    }
  }
}

// dpre is overwritten (PReLU's kernel overwrites; the others accumulate, so
// it is cleared for them first); dalpha accumulates and may be null.
template <typename T>
void HiddenBackward(T* dpre, T* dalpha, const T* dout, const DiceCache<T>& dice, const T* pre,
                    const T* out, const T* alpha, int n, int units, HiddenActivation activation) {
  const size_t total = static_cast<size_t>(n) * units;
  if (activation == HiddenActivation::kPrelu) {
    prelu_backward_overwrite(dpre, dalpha, dout, pre, alpha, n, units);
    return;
  }
  std::fill(dpre, dpre + total, T(0));
  switch (activation) {
    case HiddenActivation::kSigmoid:
      sigmoid_backward(dpre, dout, out, total);
      return;
    case HiddenActivation::kPrelu:  // handled above
      return;
    case HiddenActivation::kDice: {
      DiceShape shape;
      shape.rows = n;
      shape.units = units;
      dice_backward(dpre, dalpha, dout, dice, pre, alpha, static_cast<const T*>(nullptr), shape);
      return;
    }
  }
}

// Rows per block of the fused pass: all of them for Dice (its statistics
// span every row).
int RowBlock(const AttentionUnitShape& shape, int n) {
  if (shape.activation == HiddenActivation::kDice || shape.row_block <= 0) return n;
  return std::min(n, shape.row_block);
}

// PReLU's outputs are recomputed from its inputs in backward (one compare
// and multiply per value) rather than saved: saving them cost a write and a
// read of every layer's [n x hidden] buffer, about 2 MB each at B = 128.
// Sigmoid (an exp) and Dice (batch statistics) keep theirs.
bool RecomputesOutputs(HiddenActivation activation) {
  return activation == HiddenActivation::kPrelu;
}

// rows [m x 2D] = [k, k * q] of the packed positions valid_pos[0..m-1]:
// the first layer's per-position input. Built per block in forward and
// again in backward, since rebuilding it from the keys is cheaper than
// writing and reading back all n rows (n x 2D floats, 3 MB at B = 128).
template <typename T>
void PackKeysAndProducts(T* rows, const int32_t* valid_pos, int m, const T* keys, const T* query,
                         int length, int dim) {
  const int dim2 = 2 * dim;
  for (int i = 0; i < m; ++i) {
    const size_t pos = valid_pos[i];
    const T* k = keys + pos * dim;
    const T* q = query + (pos / length) * dim;
    T* row = rows + static_cast<size_t>(i) * dim2;
#pragma omp simd
    for (int d = 0; d < dim; ++d) {
      row[d] = k[d];
      row[dim + d] = k[d] * q[d];
    }
  }
}

// pre1 [m x h1] += the query term of each packed row's sample. With PReLU
// the same pass writes the activation too: one read of the block, where
// seeding pre1 with the query term before its GEMM (beta 1) and applying
// PReLU after it took a write and two more reads.
template <typename T>
void AddQueryTerm(T* pre1, T* out1, const T* query_term, const T* alpha, const int32_t* valid_pos,
                  int m, int length, int h1, HiddenActivation activation) {
  const bool prelu = activation == HiddenActivation::kPrelu;
  for (int i = 0; i < m; ++i) {
    const T* qt = query_term + static_cast<size_t>(valid_pos[i] / length) * h1;
    T* pre = pre1 + static_cast<size_t>(i) * h1;
    if (prelu) {
      T* out = out1 + static_cast<size_t>(i) * h1;
#pragma omp simd
      for (int j = 0; j < h1; ++j) {
        const T x = pre[j] + qt[j];
        pre[j] = x;
        out[j] = x > T(0) ? x : alpha[j] * x;
      }
    } else {
#pragma omp simd
      for (int j = 0; j < h1; ++j) pre[j] += qt[j];
    }
  }
}

// The second hidden layer's PReLU and the output layer, forward, for PReLU
// units: score = PReLU(pre2) w3 + b3, a dot product per row, without
// writing out2 (backward recomputes it).
template <typename T>
void Prelu2AndOutputForward(T* score, const T* pre2, const T* alpha, const T* w3, const T* b3,
                            int m, int h2) {
  for (int i = 0; i < m; ++i) {
    const T* x = pre2 + static_cast<size_t>(i) * h2;
    T dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int j = 0; j < h2; ++j) dot += (x[j] > T(0) ? x[j] : alpha[j] * x[j]) * w3[j];
    score[i] = dot + b3[0];
  }
}

// The output layer and the second hidden layer's PReLU, backward, in one
// pass over pre2 for PReLU units: dpre2 = PReLU'(pre2) (dscore w3^T), with
// the sums of w3's (out2^T dscore, out2 recomputed in the pass), b3's, b2's
// and act2's gradients in `sums` ([3 x h2 + 1]: w3, act2, b2, then b3).
// Separately this was an outer-product GEMM (k = 1), a GEMV, PReLU's
// recompute and backward and a bias pass, each a sweep over the block.
template <typename T>
void OutputAndPrelu2Backward(T* dpre2, T* sums, const T* dscore, const T* pre2, const T* w3,
                             const T* alpha, int m, int h2) {
  T* gw3 = sums;
  T* galpha = sums + h2;
  T* gb2 = sums + 2 * h2;
  T gb3 = 0;
  for (int i = 0; i < m; ++i) {
    const T ds = dscore[i];
    gb3 += ds;
    const T* x = pre2 + static_cast<size_t>(i) * h2;
    T* d = dpre2 + static_cast<size_t>(i) * h2;
#pragma omp simd
    for (int j = 0; j < h2; ++j) {
      const bool positive = x[j] > T(0);
      const T out = positive ? x[j] : alpha[j] * x[j];
      const T dout = ds * w3[j];
      const T dpre = positive ? dout : alpha[j] * dout;
      gw3[j] += out * ds;
      galpha[j] += positive ? T(0) : x[j] * dout;
      gb2[j] += dpre;
      d[j] = dpre;
    }
  }
  sums[3 * h2] += gb3;
}

// The first hidden layer's PReLU, backward, for PReLU units: dpre1 from
// dout1, act1's gradient into galpha [h1], and each row's dpre1 added to
// its sample's query-term gradient dqt (every row received that term).
template <typename T>
void Prelu1Backward(T* dpre1, T* galpha, T* dqt, const T* dout1, const T* pre1, const T* alpha,
                    const int32_t* valid_pos, int m, int length, int h1) {
  for (int i = 0; i < m; ++i) {
    const T* x = pre1 + static_cast<size_t>(i) * h1;
    const T* dy = dout1 + static_cast<size_t>(i) * h1;
    T* d = dpre1 + static_cast<size_t>(i) * h1;
    T* q = dqt + static_cast<size_t>(valid_pos[i] / length) * h1;
#pragma omp simd
    for (int j = 0; j < h1; ++j) {
      const bool positive = x[j] > T(0);
      const T dpre = positive ? dy[j] : alpha[j] * dy[j];
      galpha[j] += positive ? T(0) : x[j] * dy[j];
      q[j] += dpre;
      d[j] = dpre;
    }
  }
}

template <typename T>
void AddInto(T* dst, const T* src, int n) {
  if (dst == nullptr) return;
#pragma omp simd
  for (int i = 0; i < n; ++i) dst[i] += src[i];
}

}  // namespace

template <typename T>
void attention_unit_forward(T* scores, AttentionUnitCache<T>* cache,
                            const AttentionUnitWeights<T>& weights, const T* keys, const T* query,
                            const T* mask, bool training, const AttentionUnitShape& shape) {
  const int batch = shape.batch;
  const int length = shape.length;
  const int dim = shape.dim;
  const int h1 = shape.hidden1;
  const int h2 = shape.hidden2;
  const size_t positions = static_cast<size_t>(batch) * length;
  cache->training = training;

  cache->valid_pos.clear();
  for (size_t pos = 0; pos < positions; ++pos) {
    if (mask == nullptr || mask[pos] != T(0)) cache->valid_pos.push_back(static_cast<int32_t>(pos));
  }
  const int n = static_cast<int>(cache->valid_pos.size());
  std::fill(scores, scores + positions, T(0));
  if (n == 0) return;

  // Fold the first layer: [k, q, k-q, k*q] W = k (W1 + W3) + q (W2 - W3) + (k*q) W4.
  const T* w1_k = weights.w1;
  const T* w1_q = weights.w1 + static_cast<size_t>(dim) * h1;
  const T* w1_d = weights.w1 + static_cast<size_t>(2 * dim) * h1;
  const T* w1_p = weights.w1 + static_cast<size_t>(3 * dim) * h1;
  const size_t block = static_cast<size_t>(dim) * h1;
  cache->folded_w.resize(2 * block);
  T* folded = cache->folded_w.data();
#pragma omp simd
  for (size_t i = 0; i < block; ++i) folded[i] = w1_k[i] + w1_d[i];
  std::copy(w1_p, w1_p + block, folded + block);

  // The query term, once per sample: b1 + q (W2 - W3), one GEMM with the
  // difference folded too.
  cache->query_w.resize(block);
  T* query_w = cache->query_w.data();
#pragma omp simd
  for (size_t i = 0; i < block; ++i) query_w[i] = w1_q[i] - w1_d[i];
  cache->query_term.resize(static_cast<size_t>(batch) * h1);
  T* qt = cache->query_term.data();
  for (int b = 0; b < batch; ++b)
    std::copy(weights.b1, weights.b1 + h1, qt + static_cast<size_t>(b) * h1);
  Gemm(false, false, batch, h1, dim, T(1), query, dim, query_w, h1, T(1), qt, h1);

  // Block by block: pack [k, k*q] of the valid positions, one GEMM gives
  // the per-position part of pre1 and one pass adds the query term, then
  // the other layers run on the block while it is in cache.
  const int dim2 = 2 * dim;
  const int block_rows = RowBlock(shape, n);
  const bool recompute = RecomputesOutputs(shape.activation);
  cache->block_keys_kq.resize(static_cast<size_t>(block_rows) * dim2);
  cache->pre1.resize(static_cast<size_t>(n) * h1);
  cache->pre2.resize(static_cast<size_t>(n) * h2);
  cache->out1.resize(static_cast<size_t>(recompute ? block_rows : n) * h1);
  // PReLU's out2 is never written: the output layer reads PReLU(pre2) in its pass.
  cache->out2.resize(recompute ? 0 : static_cast<size_t>(n) * h2);
  cache->score.resize(n);
  T* kkq = cache->block_keys_kq.data();
  for (int r0 = 0; r0 < n; r0 += block_rows) {
    const int m = std::min(block_rows, n - r0);
    T* pre1 = cache->pre1.data() + static_cast<size_t>(r0) * h1;
    T* pre2 = cache->pre2.data() + static_cast<size_t>(r0) * h2;
    T* out1 = cache->out1.data() + (recompute ? 0 : static_cast<size_t>(r0) * h1);
    T* out2 = cache->out2.data() + (recompute ? 0 : static_cast<size_t>(r0) * h2);
    PackKeysAndProducts(kkq, cache->valid_pos.data() + r0, m, keys, query, length, dim);
    Gemm(false, false, m, h1, dim2, T(1), kkq, dim2, folded, h1, T(0), pre1, h1);
    AddQueryTerm(pre1, out1, qt, weights.act1, cache->valid_pos.data() + r0, m, length, h1,
                 shape.activation);
    if (shape.activation != HiddenActivation::kPrelu) {  // PReLU: done by AddQueryTerm
      HiddenForward(out1, &cache->dice1, pre1, weights.act1, weights.dice1_moving_mean,
                    weights.dice1_moving_var, training, m, h1, shape.activation);
    }
    linear_forward(pre2, out1, weights.w2, weights.b2, m, h1, h2);
    if (recompute) {
      Prelu2AndOutputForward(cache->score.data() + r0, pre2, weights.act2, weights.w3,
                             weights.b3, m, h2);
      continue;
    }
    HiddenForward(out2, &cache->dice2, pre2, weights.act2, weights.dice2_moving_mean,
                  weights.dice2_moving_var, training, m, h2, shape.activation);
    linear_forward(cache->score.data() + r0, out2, weights.w3, weights.b3, m, h2, 1);
  }
  for (int r = 0; r < n; ++r) scores[cache->valid_pos[r]] = cache->score[r];
}

template <typename T>
void attention_unit_backward(T* dkeys, T* dquery, const AttentionUnitGrads<T>& grads,
                             const T* dscores, AttentionUnitCache<T>* cache,
                             const AttentionUnitWeights<T>& weights, const T* keys, const T* query,
                             const T* mask, const AttentionUnitShape& shape) {
  const int batch = shape.batch;
  const int length = shape.length;
  const int dim = shape.dim;
  const int dim2 = 2 * dim;
  const int h1 = shape.hidden1;
  const int h2 = shape.hidden2;
  const int n = static_cast<int>(cache->valid_pos.size());
  if (n == 0) return;
  CHECK_EQ(cache->folded_w.size(), static_cast<size_t>(dim2) * h1)
      << "attention_unit_backward needs the cache of a forward with the same shape";

  // Only valid positions' incoming gradient counts.
  cache->dscore.resize(n);
  T* dscore = cache->dscore.data();
  for (int r = 0; r < n; ++r) dscore[r] = dscores[cache->valid_pos[r]];

  // The query side of the first layer gathers per sample over all blocks.
  cache->dquery_term.resize(static_cast<size_t>(batch) * h1);
  T* dqt = cache->dquery_term.data();
  std::fill(dqt, dqt + static_cast<size_t>(batch) * h1, T(0));
  const size_t block = static_cast<size_t>(dim) * h1;
  if (grads.w1 != nullptr) cache->dfolded_w.resize(2 * block);
  T* dfolded = cache->dfolded_w.data();

  // The backward products read the weights transposed; transposing them once
  // here, not inside every block's A B^T product, keeps the per-block cost
  // down to the GEMMs themselves.
  const bool input_grads = dkeys != nullptr || dquery != nullptr;
  cache->w2_transposed.resize(static_cast<size_t>(h2) * h1);
  Transpose(cache->w2_transposed.data(), weights.w2, h1, h2);
  if (input_grads) {
    cache->folded_w_transposed.resize(static_cast<size_t>(h1) * dim2);
    Transpose(cache->folded_w_transposed.data(), cache->folded_w.data(), dim2, h1);
  }
  const T* w2_t = cache->w2_transposed.data();
  const T* folded_t = cache->folded_w_transposed.data();

  const int block_rows = RowBlock(shape, n);
  const bool recompute = RecomputesOutputs(shape.activation);
  CHECK_EQ(cache->block_keys_kq.size(), static_cast<size_t>(block_rows) * dim2)
      << "attention_unit_backward needs the cache of a forward with the same shape";
  T* kkq = cache->block_keys_kq.data();
  cache->dout2.resize(recompute ? 0 : static_cast<size_t>(block_rows) * h2);
  cache->dpre2.resize(static_cast<size_t>(block_rows) * h2);
  cache->dout1.resize(static_cast<size_t>(block_rows) * h1);
  cache->dpre1.resize(static_cast<size_t>(block_rows) * h1);
  cache->dkeys_kq.resize(static_cast<size_t>(block_rows) * dim2);
  T* dout2 = cache->dout2.data();
  T* dpre2 = cache->dpre2.data();
  T* dout1 = cache->dout1.data();
  T* dpre1 = cache->dpre1.data();
  T* dkkq = cache->dkeys_kq.data();
  // PReLU's fused passes sum the small gradients here, added to `grads`
  // (whose pointers may be null) after the blocks.
  cache->small_grad_sums.assign(static_cast<size_t>(3 * h2 + 1 + h1), T(0));
  T* sums2 = cache->small_grad_sums.data();
  T* galpha1 = sums2 + 3 * h2 + 1;
  for (int r0 = 0; r0 < n; r0 += block_rows) {
    const int m = std::min(block_rows, n - r0);
    const T* dscore_b = dscore + r0;
    const T* pre1 = cache->pre1.data() + static_cast<size_t>(r0) * h1;
    const T* pre2 = cache->pre2.data() + static_cast<size_t>(r0) * h2;
    T* out1 = cache->out1.data() + (recompute ? 0 : static_cast<size_t>(r0) * h1);
    T* out2 = cache->out2.data() + (recompute ? 0 : static_cast<size_t>(r0) * h2);
    const int32_t* block_pos = cache->valid_pos.data() + r0;
    if (recompute) {
      // PReLU: the output layer and layer 2's activation in one pass (out2
      // is recomputed inside it), then layer 2 with out1 recomputed.
      OutputAndPrelu2Backward(dpre2, sums2, dscore_b, pre2, weights.w3, weights.act2, m, h2);
      prelu_forward(out1, pre1, weights.act1, m, h1);
      Gemm(false, false, m, h1, h2, T(1), dpre2, h2, w2_t, h1, T(0), dout1, h1);
      linear_backward(static_cast<T*>(nullptr), grads.w2, static_cast<T*>(nullptr), dpre2, out1,
                      weights.w2, m, h1, h2);
      Prelu1Backward(dpre1, galpha1, dqt, dout1, pre1, weights.act1, block_pos, m, length, h1);
    } else {
      // Output layer: dout2 = dscore w3^T, an outer product; w3 [h2 x 1]
      // read as a [1 x h2] row is already its transpose.
      Gemm(false, false, m, h2, 1, T(1), dscore_b, 1, weights.w3, h2, T(0), dout2, h2);
      linear_backward(static_cast<T*>(nullptr), grads.w3, grads.b3, dscore_b, out2, weights.w3, m,
                      h2, 1);
      HiddenBackward(dpre2, grads.act2, dout2, cache->dice2, pre2, out2, weights.act2, m, h2,
                     shape.activation);
      Gemm(false, false, m, h1, h2, T(1), dpre2, h2, w2_t, h1, T(0), dout1, h1);
      linear_backward(static_cast<T*>(nullptr), grads.w2, grads.b2, dpre2, out1, weights.w2, m,
                      h1, h2);
      HiddenBackward(dpre1, grads.act1, dout1, cache->dice1, pre1, out1, weights.act1, m, h1,
                     shape.activation);
      // First layer, query side: every packed row received its sample's
      // query term, so its gradient is the per-sample sum of dpre1 rows.
      for (int i = 0; i < m; ++i) {
        const T* src = dpre1 + static_cast<size_t>(i) * h1;
        T* dst = dqt + static_cast<size_t>(block_pos[i] / length) * h1;
#pragma omp simd
        for (int j = 0; j < h1; ++j) dst[j] += src[j];
      }
    }
    // The folded weights' gradient, summed over the blocks.
    if (grads.w1 != nullptr) {
      PackKeysAndProducts(kkq, cache->valid_pos.data() + r0, m, keys, query, length, dim);
      Gemm(true, false, dim2, h1, m, T(1), kkq, dim2, dpre1, h1, r0 == 0 ? T(0) : T(1), dfolded,
           h1);
    }
    if (input_grads) {
      // d[k, k*q] for the block's rows in one GEMM, then the product rule for k*q.
      Gemm(false, false, m, dim2, h1, T(1), dpre1, h1, folded_t, dim2, T(0), dkkq, dim2);
      for (int i = 0; i < m; ++i) {
        const size_t pos = cache->valid_pos[r0 + i];
        const size_t b = pos / length;
        const T* dk = dkkq + static_cast<size_t>(i) * dim2;
        const T* dkq = dk + dim;
        if (dkeys != nullptr) {
          const T* q = query + b * dim;
          T* dst = dkeys + pos * dim;
#pragma omp simd
          for (int d = 0; d < dim; ++d) dst[d] += dk[d] + dkq[d] * q[d];
        }
        if (dquery != nullptr) {
          const T* k = keys + pos * dim;
          T* dst = dquery + b * dim;
#pragma omp simd
          for (int d = 0; d < dim; ++d) dst[d] += dkq[d] * k[d];
        }
      }
    }
  }
  if (recompute) {
    AddInto(grads.w3, sums2, h2);
    AddInto(grads.act2, sums2 + h2, h2);
    AddInto(grads.b2, sums2 + 2 * h2, h2);
    AddInto(grads.b3, sums2 + 3 * h2, 1);
    AddInto(grads.act1, galpha1, h1);
  }
  if (grads.b1 != nullptr) {
    for (int b = 0; b < batch; ++b) {
      const T* src = dqt + static_cast<size_t>(b) * h1;
#pragma omp simd
      for (int j = 0; j < h1; ++j) grads.b1[j] += src[j];
    }
  }

  // Unfold the weight gradients: W1 and W3 share dWk, W2 gets q^T dqt and
  // W3 minus it, W4 gets its own block.
  if (grads.w1 != nullptr) {
    T* g_k = grads.w1;
    T* g_q = grads.w1 + block;
    T* g_d = grads.w1 + 2 * block;
    T* g_p = grads.w1 + 3 * block;
    cache->dquery_w.resize(block);
    T* dquery_w = cache->dquery_w.data();
    Gemm(true, false, dim, h1, batch, T(1), query, dim, dqt, h1, T(0), dquery_w, h1);
#pragma omp simd
    for (size_t i = 0; i < block; ++i) {
      g_k[i] += dfolded[i];
      g_q[i] += dquery_w[i];
      g_d[i] += dfolded[i] - dquery_w[i];
      g_p[i] += dfolded[block + i];
    }
  }

  if (dquery != nullptr) {
    // dquery += dqt (W2 - W3)^T.
    Gemm(false, true, batch, dim, h1, T(1), dqt, h1, cache->query_w.data(), h1, T(1), dquery,
         dim);
  }
}

template void attention_unit_forward<float>(float*, AttentionUnitCache<float>*,
                                            const AttentionUnitWeights<float>&, const float*,
                                            const float*, const float*, bool,
                                            const AttentionUnitShape&);
template void attention_unit_forward<double>(double*, AttentionUnitCache<double>*,
                                             const AttentionUnitWeights<double>&, const double*,
                                             const double*, const double*, bool,
                                             const AttentionUnitShape&);
template void attention_unit_backward<float>(float*, float*, const AttentionUnitGrads<float>&,
                                             const float*, AttentionUnitCache<float>*,
                                             const AttentionUnitWeights<float>&, const float*,
                                             const float*, const float*, const AttentionUnitShape&);
template void attention_unit_backward<double>(double*, double*, const AttentionUnitGrads<double>&,
                                              const double*, AttentionUnitCache<double>*,
                                              const AttentionUnitWeights<double>&, const double*,
                                              const double*, const double*,
                                              const AttentionUnitShape&);

}  // namespace dips
