#include "worker/model/cuda/cuda_ctr_model.h"

#include <glog/logging.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "worker/model/ctr_model.h"

namespace dips {
namespace cuda {
namespace {

// Staged arrays start on 256-byte boundaries (64 words), which cuBLAS and
// coalesced loads like.
constexpr size_t kAlignWords = 64;

// Reserves `words` at *cursor (aligned) and returns their offset.
size_t Take(size_t* cursor, size_t words) {
  const size_t offset = (*cursor + kAlignWords - 1) / kAlignWords * kAlignWords;
  *cursor = offset + words;
  return offset;
}

// Copies n 4-byte values to word `offset` of the staging buffer.
template <typename T>
void Put(unsigned char* staging, size_t offset, const T* src, size_t n) {
  static_assert(sizeof(T) == 4, "staged values are 4 bytes");
  if (n > 0) std::memcpy(staging + offset * 4, src, n * 4);
}

bool SameViews(const std::vector<ParamView>& a, const std::vector<ParamView>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || a[i].offset != b[i].offset || a[i].size != b[i].size) {
      return false;
    }
  }
  return true;
}

}  // namespace

CudaCtrModel::CudaCtrModel(const ModelConfig& config, int interest_dim,
                           std::unique_ptr<Model<float>> twin, std::unique_ptr<CudaContext> ctx)
    : twin_(std::move(twin)),
      ctx_(std::move(ctx)),
      interest_dim_(interest_dim),
      head_input_dim_(CtrHeadShape(config, interest_dim).input_dim),
      head_(CtrHeadShape(config, interest_dim), "head", &params_, &state_) {
  CHECK(twin_ != nullptr && ctx_ != nullptr);
}

CudaCtrModel::~CudaCtrModel() {
  // The buffers are freed on this model's device whichever thread ends it.
  ctx_->Activate();
}

bool CudaCtrModel::LayoutMatchesTwin() const {
  return SameViews(params_.views(), twin_->layout()) &&
         SameViews(state_.views(), twin_->state_layout()) &&
         params_.size() == twin_->num_params() && state_.size() == twin_->num_state();
}

CudaCtrModel::Staging CudaCtrModel::PlanStaging(const Batch& b) const {
  const size_t B = b.size, L = b.max_length, F = b.num_behaviour_fields;
  const size_t d = config().embedding_dim;
  Staging s;
  size_t cursor = 0;
  s.params = Take(&cursor, num_params());
  s.state = Take(&cursor, num_state());
  s.rows = Take(&cursor, static_cast<size_t>(b.num_unique_keys()) * d);
  s.labels = Take(&cursor, B);
  s.mask = Take(&cursor, B * L);
  s.lengths = Take(&cursor, B);
  s.target_slots = Take(&cursor, B * F);
  s.history_slots = Take(&cursor, B * L * F);
  s.extra_slots = Take(&cursor, b.extra_slots.size());
  s.negative_slots = Take(&cursor, b.negative_slots.size());
  s.inputs = cursor;
  // Outputs: Forward's [losses (2), probs (B), state] or Backward's
  // [param grads, row grads], whichever is larger.
  const size_t forward_out = 2 + B + num_state();
  const size_t backward_out = num_params() + static_cast<size_t>(b.num_unique_keys()) * d;
  s.outputs = Take(&cursor, std::max(forward_out, backward_out));
  s.words = cursor;
  return s;
}

bool CudaCtrModel::StageInputs(const Batch& b, const float* rows, const float* params,
                               const float* state) {
  staging_ = PlanStaging(b);
  const Staging& s = staging_;
  if (!pinned_.Grow(s.words * 4, ctx_.get()) || !inputs_.Grow(s.inputs, ctx_.get())) {
    return false;
  }
  unsigned char* host = pinned_.data();
  const size_t B = b.size;
  Put(host, s.params, params, num_params());
  Put(host, s.state, state, num_state());
  Put(host, s.rows, rows, static_cast<size_t>(b.num_unique_keys()) * config().embedding_dim);
  Put(host, s.labels, b.labels.data(), B);
  FillHistoryMask(b, reinterpret_cast<float*>(host + s.mask * 4));
  Put(host, s.lengths, b.lengths.data(), B);
  Put(host, s.target_slots, b.target_slots.data(), b.target_slots.size());
  Put(host, s.history_slots, b.history_slots.data(), b.history_slots.size());
  Put(host, s.extra_slots, b.extra_slots.data(), b.extra_slots.size());
  Put(host, s.negative_slots, b.negative_slots.data(), b.negative_slots.size());
  // The staging buffer is not touched again until the step synchronises.
  return CopyBytesToDevice(inputs_.data(), host, s.inputs * 4, ctx_.get()).ok();
}

DeviceSequence CudaCtrModel::Sequence(const Batch& b) {
  DeviceSequence in;
  in.batch = b.size;
  in.length = b.max_length;
  in.dim = config().behaviour_dim();
  in.history = history_.data();
  in.target = target_.data();
  in.mask = DeviceWords(staging_.mask);
  in.lengths = DeviceInts(staging_.lengths);
  return in;
}

DeviceRows CudaCtrModel::Rows(const Batch& b, float* row_grads) {
  DeviceRows r;
  r.rows = DeviceWords(staging_.rows);
  r.negative_slots = b.has_negatives() ? DeviceInts(staging_.negative_slots) : nullptr;
  r.row_grads = row_grads;
  return r;
}

float CudaCtrModel::Failed() {
  last_training_ = false;
  target_loss_ = aux_loss_ = std::numeric_limits<float>::quiet_NaN();
  return target_loss_;
}

float CudaCtrModel::Forward(const Batch& batch, const float* rows, const float* params,
                            float* state, bool training, float* probs) {
  CheckModelBatch(config(), batch);
  last_training_ = false;
  CudaContext* ctx = ctx_.get();
  if (!ctx->ok()) return Failed();
  ctx->Activate();
  const ModelConfig& c = config();
  const int B = batch.size, L = batch.max_length, F = c.num_behaviour_fields;
  const int d = c.embedding_dim, D = c.behaviour_dim();
  const int PD = c.num_extra_fields * d, U = interest_dim_, X = head_input_dim_;
  const size_t BL = static_cast<size_t>(B) * L;

  if (!StageInputs(batch, rows, params, state)) {
    ctx->Synchronize();  // a copy may have been enqueued
    return Failed();
  }
  const float* d_params = DeviceWords(staging_.params);
  float* d_state = DeviceWords(staging_.state);
  const float* d_rows = DeviceWords(staging_.rows);
  const bool ok =
      losses_.GrowZeroed(2, ctx) && target_.Grow(static_cast<size_t>(B) * D, ctx) &&
      extra_.Grow(static_cast<size_t>(B) * PD, ctx) &&
      pooled_.GrowZeroed(static_cast<size_t>(B) * D, ctx) &&
      interest_.GrowZeroed(static_cast<size_t>(B) * U, ctx) && history_.Grow(BL * D, ctx) &&
      x_.Grow(static_cast<size_t>(B) * X, ctx) && logits_.Grow(B, ctx) && probs_.Grow(B, ctx);
  if (ok) {
    embedding_gather(target_.data(), d_rows, DeviceInts(staging_.target_slots), B, F, d, ctx);
    if (PD > 0) {
      embedding_gather(extra_.data(), d_rows, DeviceInts(staging_.extra_slots), B,
                       c.num_extra_fields, d, ctx);
    }
    if (L > 0) {
      embedding_gather(history_.data(), d_rows, DeviceInts(staging_.history_slots),
                       static_cast<int>(BL), F, d, ctx);
      weighted_sum_pooling_forward(pooled_.data(), history_.data(), nullptr,
                                   DeviceWords(staging_.mask), B, L, D, ctx);
      if (U > 0) {
        InterestForward(batch, Sequence(batch), Rows(batch, nullptr), d_params, d_state,
                        training, interest_.data(), losses_.data() + 1);
      }
    }
    // else: no history anywhere in the batch; s and u stay 0.
    head_input_forward(x_.data(), extra_.data(), target_.data(), pooled_.data(),
                       interest_.data(), B, PD, D, U, ctx);
    head_.Forward(logits_.data(), x_.data(), B, d_params, d_state, training, ctx);
    sigmoid_bce_forward(probs_.data(), losses_.data(), logits_.data(),
                        DeviceWords(staging_.labels), B, ctx);
    unsigned char* out = pinned_.data() + staging_.outputs * 4;
    EnqueueCopyBytesToHost(out, losses_.data(), 2 * 4, ctx);
    EnqueueCopyBytesToHost(out + 2 * 4, probs_.data(), static_cast<size_t>(B) * 4, ctx);
    if (training) {
      EnqueueCopyBytesToHost(out + (2 + static_cast<size_t>(B)) * 4, d_state, num_state() * 4,
                             ctx);
    }
  }
  if (!ctx->Synchronize().ok()) return Failed();

  const float* out = reinterpret_cast<const float*>(pinned_.data() + staging_.outputs * 4);
  target_loss_ = out[0];
  aux_loss_ = out[1];
  if (probs != nullptr) std::copy(out + 2, out + 2 + B, probs);
  if (training) std::copy(out + 2 + B, out + 2 + B + num_state(), state);
  last_training_ = training;
  last_batch_ = B;
  last_length_ = L;
  return target_loss_ + c.aux_loss_weight * aux_loss_;
}

void CudaCtrModel::Backward(const Batch& batch, const float* rows, const float* params,
                            float* param_grads, float* row_grads) {
  CudaContext* ctx = ctx_.get();
  if (!ctx->ok()) return;  // Forward failed and said so; status() has why
  CHECK(last_training_) << "Backward needs a preceding Forward(training=true)";
  CHECK_EQ(batch.size, last_batch_);
  CHECK_EQ(batch.max_length, last_length_);
  ctx->Activate();
  const ModelConfig& c = config();
  const int B = batch.size, L = batch.max_length, F = c.num_behaviour_fields;
  const int d = c.embedding_dim, D = c.behaviour_dim();
  const int PD = c.num_extra_fields * d, U = interest_dim_, X = head_input_dim_;
  const size_t BL = static_cast<size_t>(B) * L;
  const size_t row_values = static_cast<size_t>(batch.num_unique_keys()) * d;
  // Rows and parameters: the device copies Forward staged (same values).
  const float* d_params = DeviceWords(staging_.params);

  const bool ok = param_grads_.GrowZeroed(num_params(), ctx) &&
                  row_grads_.GrowZeroed(row_values, ctx) && dlogits_.GrowZeroed(B, ctx) &&
                  dx_.GrowZeroed(static_cast<size_t>(B) * X, ctx) &&
                  dtarget_.Grow(static_cast<size_t>(B) * D, ctx) &&
                  dextra_.Grow(static_cast<size_t>(B) * PD, ctx) &&
                  dpooled_.Grow(static_cast<size_t>(B) * D, ctx) &&
                  dinterest_.Grow(static_cast<size_t>(B) * U, ctx) &&
                  dhistory_.GrowZeroed(BL * D, ctx);
  if (ok) {
    float* dparams = param_grads_.data();
    float* drows = row_grads_.data();
    sigmoid_bce_backward(dlogits_.data(), probs_.data(), DeviceWords(staging_.labels), B, 1.0f,
                         ctx);
    head_.Backward(dx_.data(), dlogits_.data(), x_.data(), B, d_params, dparams, ctx);
    // Split dx into its parts (overwrites them); v_A * s sends v_A's
    // gradient s and vice versa.
    head_input_backward(PD > 0 ? dextra_.data() : nullptr, dtarget_.data(), dpooled_.data(),
                        U > 0 ? dinterest_.data() : nullptr, dx_.data(), target_.data(),
                        pooled_.data(), B, PD, D, U, ctx);
    if (L > 0) {
      weighted_sum_pooling_backward(dhistory_.data(), nullptr, dpooled_.data(), history_.data(),
                                    nullptr, DeviceWords(staging_.mask), B, L, D, ctx);
      if (U > 0) {
        DeviceSequenceGrads grads;
        grads.history = dhistory_.data();
        grads.target = dtarget_.data();
        InterestBackward(batch, Sequence(batch), dinterest_.data(), d_params, grads,
                         Rows(batch, drows), dparams);
      }
      embedding_scatter_add(drows, dhistory_.data(), DeviceInts(staging_.history_slots),
                            static_cast<int>(BL), F, d, ctx);
    }
    embedding_scatter_add(drows, dtarget_.data(), DeviceInts(staging_.target_slots), B, F, d,
                          ctx);
    if (PD > 0) {
      embedding_scatter_add(drows, dextra_.data(), DeviceInts(staging_.extra_slots), B,
                            c.num_extra_fields, d, ctx);
    }
    unsigned char* out = pinned_.data() + staging_.outputs * 4;
    EnqueueCopyBytesToHost(out, dparams, num_params() * 4, ctx);
    EnqueueCopyBytesToHost(out + num_params() * 4, drows, row_values * 4, ctx);
  }
  if (!ctx->Synchronize().ok()) return;

  const float* out = reinterpret_cast<const float*>(pinned_.data() + staging_.outputs * 4);
  for (size_t i = 0; i < num_params(); ++i) param_grads[i] += out[i];
  const float* drows = out + num_params();
  for (size_t i = 0; i < row_values; ++i) row_grads[i] += drows[i];
}

}  // namespace cuda
}  // namespace dips
