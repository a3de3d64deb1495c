#include "worker/model/ctr_model.h"

#include <glog/logging.h>

#include <algorithm>

#include "worker/model/layers/embedding.h"
#include "worker/model/layers/loss.h"
#include "worker/model/layers/pooling.h"
#include "worker/model/workspace.h"

namespace dips {

MlpHeadShape CtrHeadShape(const ModelConfig& c, int interest_dim) {
  MlpHeadShape s;
  // x = [p, v_A, s, v_A * s, u]: p has P*d values, the next three D each.
  s.input_dim = c.num_extra_fields * c.embedding_dim + 3 * c.behaviour_dim() + interest_dim;
  s.hidden = c.mlp_hidden;
  s.activation = c.mlp_activation;
  s.dice_eps = c.dice_eps;
  s.dice_momentum = c.dice_momentum;
  return s;
}

double ValidPositions(const Batch& batch) {
  double n = 0;
  for (int32_t len : batch.lengths) n += len;
  return n;
}

void CheckModelBatch(const ModelConfig& config, const Batch& b) {
  CHECK_EQ(b.num_behaviour_fields, config.num_behaviour_fields);
  CHECK_EQ(b.num_extra_fields, config.num_extra_fields);
  CHECK_GT(b.size, 0);
  CHECK_GE(b.max_length, 0);
  const size_t n = b.size, t = b.max_length, f = b.num_behaviour_fields;
  CHECK_EQ(b.labels.size(), n);
  CHECK_EQ(b.lengths.size(), n);
  CHECK_EQ(b.target_slots.size(), n * f);
  CHECK_EQ(b.history_slots.size(), n * t * f);
  CHECK_EQ(b.extra_slots.size(), n * static_cast<size_t>(b.num_extra_fields));
  CHECK(b.negative_slots.empty() || b.negative_slots.size() == n * t * f);
  for (int32_t len : b.lengths) CHECK(len >= 0 && len <= b.max_length) << len;
  // Gathers read rows[slot] unchecked; one pass over the slots is cheap
  // next to the step and turns a builder bug into a clear failure.
  const int32_t keys = b.num_unique_keys();
  for (const auto* slots : {&b.target_slots, &b.history_slots, &b.extra_slots, &b.negative_slots}) {
    for (int32_t s : *slots) CHECK(s >= -1 && s < keys) << "slot " << s << " of " << keys;
  }
}

template <typename T>
CtrModel<T>::CtrModel(const ModelConfig& config, int interest_dim)
    : config_(config),
      interest_dim_(interest_dim),
      head_input_dim_(CtrHeadShape(config, interest_dim).input_dim),
      head_(CtrHeadShape(config, interest_dim), "head", &params_, &state_) {}

template <typename T>
void CtrModel<T>::InitParams(T* params, uint64_t seed) const {
  params_.Initialize(params, seed);
}

template <typename T>
void CtrModel<T>::InitState(T* state) const {
  state_.Initialize(state, /*seed=*/0);  // constants only, the seed is unused
}

template <typename T>
SequenceInputs<T> CtrModel<T>::Inputs(const Batch& batch) const {
  SequenceInputs<T> in;
  in.batch = batch.size;
  in.length = batch.max_length;
  in.dim = config_.behaviour_dim();
  in.history = history_.data();
  in.target = target_.data();
  in.mask = mask_.data();
  in.lengths = batch.lengths.data();
  return in;
}

template <typename T>
T CtrModel<T>::Forward(const Batch& batch, const T* rows, const T* params, T* state, bool training,
                       T* probs) {
  CheckModelBatch(config_, batch);
  const int B = batch.size, L = batch.max_length, F = config_.num_behaviour_fields;
  const int d = config_.embedding_dim, D = config_.behaviour_dim();
  const int PD = config_.num_extra_fields * d, U = interest_dim_, X = head_input_dim_;
  const size_t BL = static_cast<size_t>(B) * L;

  T* target = Grow(&target_, static_cast<size_t>(B) * D);
  embedding_gather(target, rows, batch.target_slots.data(), B, F, d);
  T* extra = Grow(&extra_, static_cast<size_t>(B) * PD);
  if (PD > 0)
    embedding_gather(extra, rows, batch.extra_slots.data(), B, config_.num_extra_fields, d);

  T* pooled = GrowZeroed(&pooled_, static_cast<size_t>(B) * D);
  T* interest = GrowZeroed(&interest_, static_cast<size_t>(B) * U);
  aux_loss_ = 0;
  if (L > 0) {
    T* history = Grow(&history_, BL * D);
    embedding_gather(history, rows, batch.history_slots.data(), static_cast<int>(BL), F, d);
    T* mask = Grow(&mask_, BL);
    FillHistoryMask(batch, mask);
    const bool interest_pools = U > 0 && PoolsHistorySum();
    if (!interest_pools) {
      weighted_sum_pooling_forward(pooled, history, static_cast<const T*>(nullptr), mask, B, L, D);
    }
    if (U > 0) {
      aux_loss_ = InterestForward(batch, Inputs(batch), rows, params, state, training, interest,
                                  interest_pools ? pooled : nullptr);
    }
  }
  // else: no history anywhere in the batch; s and u stay 0.

  T* x = Grow(&x_, static_cast<size_t>(B) * X);
  for (int b = 0; b < B; ++b) {
    T* row = x + static_cast<size_t>(b) * X;
    const T* va = target + static_cast<size_t>(b) * D;
    const T* s = pooled + static_cast<size_t>(b) * D;
    std::copy(extra + static_cast<size_t>(b) * PD, extra + static_cast<size_t>(b + 1) * PD, row);
    row += PD;
    for (int i = 0; i < D; ++i) {
      row[i] = va[i];
      row[D + i] = s[i];
      row[2 * D + i] = va[i] * s[i];
    }
    row += 3 * D;
    std::copy(interest + static_cast<size_t>(b) * U, interest + static_cast<size_t>(b + 1) * U,
              row);
  }

  T* logits = Grow(&logits_, B);
  head_.Forward(logits, x, B, params, state, training);
  T* labels = Grow(&labels_, B);
  std::copy(batch.labels.begin(), batch.labels.end(), labels);
  T* p = Grow(&probs_, B);
  target_loss_ = sigmoid_bce_forward(p, logits, labels, B);
  if (probs != nullptr) std::copy(p, p + B, probs);

  last_training_ = training;
  last_batch_ = B;
  last_length_ = L;
  return target_loss_ + static_cast<T>(config_.aux_loss_weight) * aux_loss_;
}

template <typename T>
void CtrModel<T>::Backward(const Batch& batch, const T* rows, const T* params, T* param_grads,
                           T* row_grads) {
  CHECK(last_training_) << "Backward needs a preceding Forward(training=true)";
  CHECK_EQ(batch.size, last_batch_);
  CHECK_EQ(batch.max_length, last_length_);
  const int B = batch.size, L = batch.max_length, F = config_.num_behaviour_fields;
  const int d = config_.embedding_dim, D = config_.behaviour_dim();
  const int PD = config_.num_extra_fields * d, U = interest_dim_, X = head_input_dim_;
  const size_t BL = static_cast<size_t>(B) * L;

  T* dlogits = GrowZeroed(&dlogits_, B);
  sigmoid_bce_backward(dlogits, probs_.data(), labels_.data(), B, T(1));
  T* dx = GrowZeroed(&dx_, static_cast<size_t>(B) * X);
  head_.Backward(dx, dlogits, x_.data(), B, params, param_grads);

  // Split dx into its parts; v_A * s sends v_A's gradient s and vice versa.
  T* dtarget = Grow(&dtarget_, static_cast<size_t>(B) * D);
  T* dextra = Grow(&dextra_, static_cast<size_t>(B) * PD);
  T* dpooled = Grow(&dpooled_, static_cast<size_t>(B) * D);
  T* dinterest = Grow(&dinterest_, static_cast<size_t>(B) * U);
  for (int b = 0; b < B; ++b) {
    const T* row = dx + static_cast<size_t>(b) * X;
    const T* va = target_.data() + static_cast<size_t>(b) * D;
    const T* s = pooled_.data() + static_cast<size_t>(b) * D;
    T* dva = dtarget + static_cast<size_t>(b) * D;
    T* ds = dpooled + static_cast<size_t>(b) * D;
    std::copy(row, row + PD, dextra + static_cast<size_t>(b) * PD);
    row += PD;
    for (int i = 0; i < D; ++i) {
      dva[i] = row[i] + row[2 * D + i] * s[i];
      ds[i] = row[D + i] + row[2 * D + i] * va[i];
    }
    row += 3 * D;
    std::copy(row, row + U, dinterest + static_cast<size_t>(b) * U);
  }

  if (L > 0) {
    const bool interest_pools = U > 0 && PoolsHistorySum();
    T* dhistory = interest_pools ? Grow(&dhistory_, BL * D) : GrowZeroed(&dhistory_, BL * D);
    if (!interest_pools) {
      weighted_sum_pooling_backward(dhistory, static_cast<T*>(nullptr), dpooled, history_.data(),
                                    static_cast<const T*>(nullptr), mask_.data(), B, L, D);
    }
    if (U > 0) {
      SequenceGrads<T> grads;
      grads.history = dhistory;
      grads.target = dtarget;
      if (interest_pools) grads.pooled = dpooled;
      InterestBackward(batch, Inputs(batch), dinterest, params, grads, param_grads, row_grads);
    }
    embedding_scatter_add(row_grads, dhistory, batch.history_slots.data(), static_cast<int>(BL), F,
                          d);
  }
  embedding_scatter_add(row_grads, dtarget, batch.target_slots.data(), B, F, d);
  if (PD > 0) {
    embedding_scatter_add(row_grads, dextra, batch.extra_slots.data(), B, config_.num_extra_fields,
                          d);
  }
}

template <typename T>
double CtrModel<T>::TrainingFlops(const Batch& batch) const {
  return head_.TrainingFlops(batch.size) + (batch.max_length > 0 ? InterestFlops(batch) : 0.0);
}

template class CtrModel<float>;
template class CtrModel<double>;

}  // namespace dips
