// DIEN auxiliary loss: the positive and the negative row of every pair go
// through the aux network in one pass over 2 * pairs rows, so each layer is a
// single GEMM (linear_forward) however ragged the sequences are.
#include "worker/model/layers/aux_loss.h"

#include <algorithm>
#include <cstring>

#include <glog/logging.h>

#include "worker/model/layers/activations.h"
#include "worker/model/layers/fast_math.h"
#include "worker/model/layers/gemm.h"
#include "worker/model/layers/linear.h"
#include "worker/model/layers/loss.h"

namespace dips {
namespace {

template <typename T>
void GrowTo(std::vector<T>* v, size_t n) {
  if (v->size() < n) v->resize(n);
}

template <typename T>
void ZeroFirst(std::vector<T>* v, size_t n) {
  GrowTo(v, n);
  std::fill(v->begin(), v->begin() + n, T(0));
}

// y[n x units] = sigmoid(y + bias), row by row.
template <typename T>
void BiasSigmoidInPlace(T* y, const T* bias, int n, int units) {
  for (int i = 0; i < n; ++i) {
    T* row = y + static_cast<size_t>(i) * units;
#pragma omp simd
    for (int j = 0; j < units; ++j) row[j] = FastSigmoid(row[j] + bias[j]);
  }
}

// Pairs (b, t) with t + 1 < lengths[b], in row order.
template <typename T>
void CollectPairs(AuxLossCache<T>* cache, const int32_t* lengths,
                  const AuxLossShape& s) {
  size_t pairs = 0;
  for (int b = 0; b < s.batch; ++b) {
    CHECK(lengths[b] >= 0 && lengths[b] <= s.length)
        << "sequence " << b << " has length " << lengths[b];
    pairs += std::max(0, lengths[b] - 1);
  }
  GrowTo(&cache->pair_index, pairs);
  int32_t* idx = cache->pair_index.data();
  for (int b = 0; b < s.batch; ++b) {
    for (int t = 0; t + 1 < lengths[b]; ++t) *idx++ = b * s.length + t;
  }
  cache->pairs = static_cast<int>(pairs);
}

}  // namespace

template <typename T>
T aux_loss_forward(AuxLossCache<T>* cache, const AuxNetWeights<T>& weights,
                   const T* hidden, const T* behaviours, const T* negatives,
                   const int32_t* lengths, const AuxLossShape& shape) {
  const int H = shape.hidden, D = shape.dim;
  CHECK(shape.kind == AuxNetKind::kMlp || H == D)
      << "inner-product aux loss needs hidden == dim";
  CollectPairs(cache, lengths, shape);
  const int P = cache->pairs;
  if (P == 0) return T(0);
  const int n = 2 * P;
  const int32_t* idx = cache->pair_index.data();
  GrowTo(&cache->logits, n);
  GrowTo(&cache->probs, n);
  GrowTo(&cache->labels, n);
  T* labels = cache->labels.data();
  std::fill(labels, labels + P, T(1));
  std::fill(labels + P, labels + n, T(0));
  T* logits = cache->logits.data();

  if (shape.kind == AuxNetKind::kInnerProduct) {
    for (int i = 0; i < P; ++i) {
      const T* h = hidden + static_cast<size_t>(idx[i]) * H;
      const T* e = behaviours + static_cast<size_t>(idx[i] + 1) * D;
      const T* ne = negatives + static_cast<size_t>(idx[i] + 1) * D;
      T pos = 0, neg = 0;
      for (int j = 0; j < H; ++j) {
        pos += h[j] * e[j];
        neg += h[j] * ne[j];
      }
      logits[i] = pos;
      logits[P + i] = neg;
    }
  } else {
    const int in = H + D, h1 = shape.hidden1, h2 = shape.hidden2;
    GrowTo(&cache->input, static_cast<size_t>(n) * in);
    GrowTo(&cache->out1, static_cast<size_t>(n) * h1);
    GrowTo(&cache->out2, static_cast<size_t>(n) * h2);
    T* x = cache->input.data();
    for (int i = 0; i < P; ++i) {
      const T* h = hidden + static_cast<size_t>(idx[i]) * H;
      const size_t next = static_cast<size_t>(idx[i] + 1) * D;
      T* pos = x + static_cast<size_t>(i) * in;
      T* neg = x + static_cast<size_t>(P + i) * in;
      std::memcpy(pos, h, sizeof(T) * H);
      std::memcpy(pos + H, behaviours + next, sizeof(T) * D);
      std::memcpy(neg, h, sizeof(T) * H);
      std::memcpy(neg + H, negatives + next, sizeof(T) * D);
    }
    // Each hidden layer: its GEMM straight into the output buffer, then the
    // bias and the sigmoid in place (backward needs only the outputs), one
    // pass where seeding each row with the bias, a separate pre-activation
    // buffer and the sigmoid took three.
    T* out1 = cache->out1.data();
    T* out2 = cache->out2.data();
    Gemm(false, false, n, h1, in, T(1), x, in, weights.w1, h1, T(0), out1, h1);
    BiasSigmoidInPlace(out1, weights.b1, n, h1);
    Gemm(false, false, n, h2, h1, T(1), out1, h1, weights.w2, h2, T(0), out2, h2);
    BiasSigmoidInPlace(out2, weights.b2, n, h2);
    linear_forward(logits, out2, weights.w3, weights.b3, n, h2, 1);
  }
  return sigmoid_bce_forward(cache->probs.data(), logits, labels, n);
}

template <typename T>
void aux_loss_backward(T* dhidden, T* dbehaviours, T* dnegatives,
                       const AuxNetGrads<T>& grads, T scale,
                       AuxLossCache<T>* cache, const AuxNetWeights<T>& weights,
                       const T* hidden, const T* behaviours,
                       const T* negatives, const int32_t* lengths,
                       const AuxLossShape& shape) {
  const int P = cache->pairs;
  if (P == 0) return;
  const int n = 2 * P, H = shape.hidden, D = shape.dim;
  const int32_t* idx = cache->pair_index.data();
  ZeroFirst(&cache->dlogits, n);
  T* dlogits = cache->dlogits.data();
  sigmoid_bce_backward(dlogits, cache->probs.data(), cache->labels.data(), n,
                       scale);

  if (shape.kind == AuxNetKind::kInnerProduct) {
    for (int i = 0; i < P; ++i) {
      const size_t hrow = static_cast<size_t>(idx[i]) * H;
      const size_t next = static_cast<size_t>(idx[i] + 1) * D;
      const T* h = hidden + hrow;
      const T* e = behaviours + next;
      const T* ne = negatives + next;
      const T dp = dlogits[i], dn = dlogits[P + i];
      if (dhidden != nullptr) {
        for (int j = 0; j < H; ++j) dhidden[hrow + j] += dp * e[j] + dn * ne[j];
      }
      if (dbehaviours != nullptr) {
        for (int j = 0; j < D; ++j) dbehaviours[next + j] += dp * h[j];
      }
      if (dnegatives != nullptr) {
        for (int j = 0; j < D; ++j) dnegatives[next + j] += dn * h[j];
      }
    }
    return;
  }

  const int in = H + D, h1 = shape.hidden1, h2 = shape.hidden2;
  const size_t n1 = static_cast<size_t>(n) * h1, n2 = static_cast<size_t>(n) * h2;
  // Each layer's input gradient is written, not added (no buffer needs
  // clearing first): with about 2 x 128 x 50 rows a batch, clearing the five
  // buffers was 20 MB of stores.
  GrowTo(&cache->dpre2, n2);
  GrowTo(&cache->dpre1, n1);
  GrowTo(&cache->dinput, static_cast<size_t>(n) * in);
  T* dpre2 = cache->dpre2.data();
  T* dpre1 = cache->dpre1.data();
  const T* out2 = cache->out2.data();
  const T* out1 = cache->out1.data();
  // Output layer and the second sigmoid: dpre2 = (dlogit w3^T) y (1 - y).
  for (int i = 0; i < n; ++i) {
    const T d = dlogits[i];
    const T* y = out2 + static_cast<size_t>(i) * h2;
    T* dp = dpre2 + static_cast<size_t>(i) * h2;
#pragma omp simd
    for (int j = 0; j < h2; ++j) dp[j] = d * weights.w3[j] * y[j] * (T(1) - y[j]);
  }
  linear_backward(static_cast<T*>(nullptr), grads.w3, grads.b3, dlogits, out2, weights.w3, n, h2,
                  1);
  Gemm(false, true, n, h1, h2, T(1), dpre2, h2, weights.w2, h2, T(0), dpre1, h1);
  linear_backward(static_cast<T*>(nullptr), grads.w2, grads.b2, dpre2, out1, weights.w2, n, h1,
                  h2);
  // The first sigmoid, in place: dpre1 held dout1.
#pragma omp simd
  for (size_t i = 0; i < n1; ++i) dpre1[i] *= out1[i] * (T(1) - out1[i]);
  Gemm(false, true, n, in, h1, T(1), dpre1, h1, weights.w1, h1, T(0), cache->dinput.data(), in);
  linear_backward(static_cast<T*>(nullptr), grads.w1, grads.b1, dpre1, cache->input.data(),
                  weights.w1, n, in, h1);

  // Scatter the input rows back: h_t gets both rows of its pair, e_{t+1} the
  // positive one, the negative at t+1 the other.
  const T* dx = cache->dinput.data();
  for (int i = 0; i < P; ++i) {
    const size_t hrow = static_cast<size_t>(idx[i]) * H;
    const size_t next = static_cast<size_t>(idx[i] + 1) * D;
    const T* dpos = dx + static_cast<size_t>(i) * in;
    const T* dneg = dx + static_cast<size_t>(P + i) * in;
    if (dhidden != nullptr) {
#pragma omp simd
      for (int j = 0; j < H; ++j) dhidden[hrow + j] += dpos[j] + dneg[j];
    }
    if (dbehaviours != nullptr) {
#pragma omp simd
      for (int j = 0; j < D; ++j) dbehaviours[next + j] += dpos[H + j];
    }
    if (dnegatives != nullptr) {
#pragma omp simd
      for (int j = 0; j < D; ++j) dnegatives[next + j] += dneg[H + j];
    }
  }
}

template float aux_loss_forward<float>(AuxLossCache<float>*,
                                       const AuxNetWeights<float>&,
                                       const float*, const float*,
                                       const float*, const int32_t*,
                                       const AuxLossShape&);
template double aux_loss_forward<double>(AuxLossCache<double>*,
                                         const AuxNetWeights<double>&,
                                         const double*, const double*,
                                         const double*, const int32_t*,
                                         const AuxLossShape&);
template void aux_loss_backward<float>(float*, float*, float*,
                                       const AuxNetGrads<float>&, float,
                                       AuxLossCache<float>*,
                                       const AuxNetWeights<float>&,
                                       const float*, const float*,
                                       const float*, const int32_t*,
                                       const AuxLossShape&);
template void aux_loss_backward<double>(double*, double*, double*,
                                        const AuxNetGrads<double>&, double,
                                        AuxLossCache<double>*,
                                        const AuxNetWeights<double>&,
                                        const double*, const double*,
                                        const double*, const int32_t*,
                                        const AuxLossShape&);

}  // namespace dips
