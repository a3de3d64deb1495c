// Training-step throughput of the CUDA backend: DIN's and DIEN's forward +
// backward chains built from worker/model/cuda/cuda_layers.h at the default
// sizes (batch 128, history 100, d = 18, two behaviour fields so D = 36,
// Dice head 200-80, PReLU attention 80-40), full histories, as in
// docs/models.md's CPU throughput table. Embedding rows and all parameters
// live on the device; the step is gather -> pooling -> interest -> head ->
// BCE -> backward -> scatter-add. Not included: the host side of a real
// step (batch building, parameter-server pull/push, the dense optimiser)
// and DIEN's auxiliary loss (its kernels exist, aux_loss.cu, but this
// benchmark does not call them; `dips train --device=cuda` does).
//
//   build/bench/cuda_bench [--steps=200] [--model=both|din|dien]
//                          [--gru=both|fused|per_step]
#include <gflags/gflags.h>
#include <glog/logging.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "worker/model/cuda/cuda_layers.h"

DEFINE_int32(steps, 200, "timed training steps per model");
DEFINE_int32(warmup, 10, "untimed steps first (allocation, cuBLAS heuristics)");
DEFINE_string(model, "both", "din, dien or both");
DEFINE_int32(batch, 128, "samples per step");
DEFINE_int32(length, 100, "history length (every history full)");
DEFINE_int32(keys, 100000, "embedding rows on the device");
DEFINE_string(gru, "both",
              "DIEN's recurrences: fused (one kernel per pass where U fits in shared memory), "
              "per_step (a GEMM and a kernel per step) or both");

namespace dips {
namespace {

using cuda::CudaContext;
using cuda::DeviceBuffer;

constexpr int kEmbedding = 18, kFields = 2, kDim = kEmbedding * kFields;
constexpr int kHead1 = 200, kHead2 = 80, kAtt1 = 80, kAtt2 = 40;

// One flat device buffer carved into named views (like the models' layout).
class Flat {
 public:
  size_t Add(size_t n) {
    offsets_.push_back(size_);
    size_ += n;
    return offsets_.back();
  }
  // Allocates and fills with U(-scale, scale) (scale 0: zeros).
  void Init(CudaContext* ctx, float scale, uint64_t seed) {
    std::vector<float> host(size_);
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-scale, scale);
    for (float& v : host) v = scale > 0 ? dist(rng) : 0.0f;
    CHECK(buf_.Grow(size_, ctx));
    CHECK(cuda::CopyToDevice(buf_.data(), host.data(), size_, ctx).ok());
  }
  float* at(size_t offset) { return buf_.data() + offset; }
  void Zero(CudaContext* ctx) { CHECK(buf_.GrowZeroed(size_, ctx)); }
  size_t size() const { return size_; }

 private:
  std::vector<size_t> offsets_;
  size_t size_ = 0;
  DeviceBuffer<float> buf_;
};

float* Buffer(std::vector<DeviceBuffer<float>>* pool, size_t n, CudaContext* ctx) {
  pool->emplace_back();
  CHECK(pool->back().Grow(n, ctx));
  return pool->back().data();
}

// The shared head: x -> 200 (Dice) -> 80 (Dice) -> 1, with its buffers.
struct Head {
  int in;
  size_t w[3], b[3], alpha[2], mean[2], var[2];
  float *pre[2], *out[2], *dout, *dpre, *logits, *dlogits;
  cuda::DiceCache dice[2];
  const int units[3] = {kHead1, kHead2, 1};

  Head(int input, Flat* params, Flat* state) : in(input) {
    int fan_in = in;
    for (int i = 0; i < 3; ++i) {
      w[i] = params->Add(static_cast<size_t>(fan_in) * units[i]);
      b[i] = params->Add(units[i]);
      if (i < 2) {
        alpha[i] = params->Add(units[i]);
        mean[i] = state->Add(units[i]);
        var[i] = state->Add(units[i]);
      }
      fan_in = units[i];
    }
  }
  void Allocate(std::vector<DeviceBuffer<float>>* pool, int batch, CudaContext* ctx) {
    for (int i = 0; i < 2; ++i) {
      pre[i] = Buffer(pool, static_cast<size_t>(batch) * units[i], ctx);
      out[i] = Buffer(pool, static_cast<size_t>(batch) * units[i], ctx);
    }
    dout = Buffer(pool, static_cast<size_t>(batch) * kHead1, ctx);
    dpre = Buffer(pool, static_cast<size_t>(batch) * kHead1, ctx);
    logits = Buffer(pool, batch, ctx);
    dlogits = Buffer(pool, batch, ctx);
  }
  void Forward(const float* x, int batch, Flat* p, Flat* s, CudaContext* ctx) {
    const float* input = x;
    int fan_in = in;
    for (int i = 0; i < 2; ++i) {
      cuda::linear_forward(pre[i], input, p->at(w[i]), p->at(b[i]), batch, fan_in, units[i], ctx);
      const DiceShape ds{batch, units[i], 1e-8, 0.99};
      cuda::dice_forward(out[i], &dice[i], pre[i], p->at(alpha[i]), nullptr, true,
                         s->at(mean[i]), s->at(var[i]), ds, ctx);
      input = out[i];
      fan_in = units[i];
    }
    cuda::linear_forward(logits, input, p->at(w[2]), p->at(b[2]), batch, kHead2, 1, ctx);
  }
  // dx is overwritten.
  void Backward(float* dx, const float* x, int batch, Flat* p, Flat* g, CudaContext* ctx) {
    cuda::ZeroBytes(dout, sizeof(float) * batch * kHead2, ctx);
    cuda::linear_backward(dout, g->at(w[2]), g->at(b[2]), dlogits, out[1], p->at(w[2]), batch,
                          kHead2, 1, ctx);
    for (int i = 1; i >= 0; --i) {
      const DiceShape ds{batch, units[i], 1e-8, 0.99};
      cuda::ZeroBytes(dpre, sizeof(float) * batch * units[i], ctx);
      cuda::dice_backward(dpre, g->at(alpha[i]), dout, &dice[i], pre[i], p->at(alpha[i]),
                          nullptr, ds, ctx);
      const int fan_in = i == 0 ? in : units[i - 1];
      float* dinput = i == 0 ? dx : dout;
      cuda::ZeroBytes(dinput, sizeof(float) * batch * fan_in, ctx);
      cuda::linear_backward(dinput, g->at(w[i]), g->at(b[i]), dpre, i == 0 ? x : out[0],
                            p->at(w[i]), batch, fan_in, units[i], ctx);
    }
  }
};

// Attention unit parameters (PReLU) in the flat buffers.
struct Attention {
  size_t w1, b1, a1, w2, b2, a2, w3, b3;
  Attention(int dim, Flat* p) {
    w1 = p->Add(4 * dim * kAtt1);
    b1 = p->Add(kAtt1);
    a1 = p->Add(kAtt1);
    w2 = p->Add(kAtt1 * kAtt2);
    b2 = p->Add(kAtt2);
    a2 = p->Add(kAtt2);
    w3 = p->Add(kAtt2);
    b3 = p->Add(1);
  }
  template <typename W, typename F>
  W Views(F* f) const {
    W v;
    v.w1 = f->at(w1);
    v.b1 = f->at(b1);
    v.act1 = f->at(a1);
    v.w2 = f->at(w2);
    v.b2 = f->at(b2);
    v.act2 = f->at(a2);
    v.w3 = f->at(w3);
    v.b3 = f->at(b3);
    return v;
  }
};

struct GruParamsFlat {
  size_t wi, wh, bias;
  GruParamsFlat(int in, int hidden, Flat* p)
      : wi(p->Add(static_cast<size_t>(in) * 3 * hidden)),
        wh(p->Add(static_cast<size_t>(hidden) * 3 * hidden)),
        bias(p->Add(3 * hidden)) {}
  GruWeights<float> Weights(Flat* p) const { return {p->at(wi), p->at(wh), p->at(bias)}; }
  GruGrads<float> Grads(Flat* g) const { return {g->at(wi), g->at(wh), g->at(bias)}; }
};

// Runs `steps` training steps of DIN or DIEN and prints samples/s.
void RunModel(bool dien, cuda::GruRecurrence recurrence, CudaContext* ctx) {
  const int B = FLAGS_batch, L = FLAGS_length, D = kDim;
  const size_t BL = static_cast<size_t>(B) * L;
  Flat params, grads, state;
  Head head(4 * D, &params, &state);  // x = [v_A, s, v_A*s, u], no extra fields
  Attention att(D, &params);
  GruParamsFlat extractor(D, D, &params), evolution(D, D, &params);
  grads.Add(params.size());  // same offsets as params
  params.Init(ctx, 0.1f, 1);
  state.Init(ctx, 0.0f, 0);
  grads.Zero(ctx);
  Flat rows, row_grads;
  rows.Add(static_cast<size_t>(FLAGS_keys) * kEmbedding);
  row_grads.Add(rows.size());
  rows.Init(ctx, 0.01f, 2);

  std::mt19937 rng(3);
  std::uniform_int_distribution<int32_t> key(0, FLAGS_keys - 1);
  std::vector<int32_t> target_slots(B * kFields), history_slots(BL * kFields), lengths(B, L);
  for (int32_t& s : target_slots) s = key(rng);
  for (int32_t& s : history_slots) s = key(rng);
  std::vector<float> labels(B), mask(BL, 1.0f);
  for (float& l : labels) l = static_cast<float>(rng() % 2);

  std::vector<DeviceBuffer<float>> pool;
  DeviceBuffer<int32_t> d_target_slots, d_history_slots, d_lengths;
  CHECK(d_target_slots.Grow(target_slots.size(), ctx) &&
        d_history_slots.Grow(history_slots.size(), ctx) && d_lengths.Grow(B, ctx));
  CHECK(cuda::CopyToDevice(d_target_slots.data(), target_slots.data(), target_slots.size(), ctx).ok());
  CHECK(cuda::CopyToDevice(d_history_slots.data(), history_slots.data(), history_slots.size(), ctx).ok());
  CHECK(cuda::CopyToDevice(d_lengths.data(), lengths.data(), B, ctx).ok());
  float* d_labels = Buffer(&pool, B, ctx);
  float* d_mask = Buffer(&pool, BL, ctx);
  CHECK(cuda::CopyToDevice(d_labels, labels.data(), B, ctx).ok());
  CHECK(cuda::CopyToDevice(d_mask, mask.data(), BL, ctx).ok());

  float* target = Buffer(&pool, B * D, ctx);
  float* history = Buffer(&pool, BL * D, ctx);
  float* pooled = Buffer(&pool, B * D, ctx);
  float* interest = Buffer(&pool, B * D, ctx);
  float* scores = Buffer(&pool, BL, ctx);
  float* weights = Buffer(&pool, BL, ctx);  // DIEN: softmax of the scores
  float* h = Buffer(&pool, BL * D, ctx);    // DIEN: extractor states
  float* h2 = Buffer(&pool, BL * D, ctx);   // DIEN: evolution states
  float* x = Buffer(&pool, B * 4 * D, ctx);
  float* probs = Buffer(&pool, B, ctx);
  float* loss = Buffer(&pool, 1, ctx);
  float* dx = Buffer(&pool, B * 4 * D, ctx);
  float* dtarget = Buffer(&pool, B * D, ctx);
  float* dpooled = Buffer(&pool, B * D, ctx);
  float* dinterest = Buffer(&pool, B * D, ctx);
  float* dhistory = Buffer(&pool, BL * D, ctx);
  float* dweights = Buffer(&pool, BL, ctx);
  float* dscores = Buffer(&pool, BL, ctx);
  float* dh = Buffer(&pool, BL * D, ctx);
  float* dh2 = Buffer(&pool, BL * D, ctx);
  head.Allocate(&pool, B, ctx);
  cuda::AttentionUnitCache att_cache;
  cuda::GruCache extractor_cache, evolution_cache;
  AttentionUnitShape att_shape{B, L, D, kAtt1, kAtt2, HiddenActivation::kPrelu};
  const GruShape gru_shape{B, L, D, D};
  const auto att_w = att.Views<AttentionUnitWeights<float>>(&params);
  const auto att_g = att.Views<AttentionUnitGrads<float>>(&grads);

  auto step = [&] {
    grads.Zero(ctx);
    row_grads.Zero(ctx);
    cuda::embedding_gather(target, rows.at(0), d_target_slots.data(), B, kFields, kEmbedding, ctx);
    cuda::embedding_gather(history, rows.at(0), d_history_slots.data(), static_cast<int>(BL),
                           kFields, kEmbedding, ctx);
    cuda::weighted_sum_pooling_forward(pooled, history, nullptr, d_mask, B, L, D, ctx);
    if (!dien) {
      cuda::attention_unit_forward(scores, &att_cache, att_w, history, target, d_mask, true,
                                   att_shape, ctx);
      cuda::weighted_sum_pooling_forward(interest, history, scores, d_mask, B, L, D, ctx);
    } else {
      cuda::gru_forward(h, &extractor_cache, extractor.Weights(&params), history,
                        d_lengths.data(), nullptr, GruVariant::kGru, gru_shape, ctx, recurrence);
      cuda::attention_unit_forward(scores, &att_cache, att_w, h, target, d_mask, true, att_shape,
                                   ctx);
      cuda::masked_softmax_forward(weights, scores, d_mask, B, L, ctx);
      cuda::gru_forward(h2, &evolution_cache, evolution.Weights(&params), h, d_lengths.data(),
                        weights, GruVariant::kAugru, gru_shape, ctx, recurrence);
      cuda::last_step_forward(interest, h2, B, L, D, ctx);
    }
    cuda::head_input_forward(x, nullptr, target, pooled, interest, B, 0, D, D, ctx);
    head.Forward(x, B, &params, &state, ctx);
    cuda::sigmoid_bce_forward(probs, loss, head.logits, d_labels, B, ctx);

    cuda::ZeroBytes(head.dlogits, sizeof(float) * B, ctx);
    cuda::sigmoid_bce_backward(head.dlogits, probs, d_labels, B, 1.0f, ctx);
    head.Backward(dx, x, B, &params, &grads, ctx);
    cuda::head_input_backward(nullptr, dtarget, dpooled, dinterest, dx, target, pooled, B, 0, D, D,
                              ctx);
    cuda::ZeroBytes(dhistory, sizeof(float) * BL * D, ctx);
    cuda::weighted_sum_pooling_backward(dhistory, nullptr, dpooled, history, nullptr, d_mask, B, L,
                                        D, ctx);
    if (!dien) {
      cuda::ZeroBytes(dweights, sizeof(float) * BL, ctx);
      cuda::weighted_sum_pooling_backward(dhistory, dweights, dinterest, history, scores, d_mask,
                                          B, L, D, ctx);
      cuda::attention_unit_backward(dhistory, dtarget, att_g, dweights, &att_cache, att_w,
                                    history, target, d_mask, att_shape, ctx);
    } else {
      cuda::ZeroBytes(dh2, sizeof(float) * BL * D, ctx);
      cuda::ZeroBytes(dh, sizeof(float) * BL * D, ctx);
      cuda::ZeroBytes(dweights, sizeof(float) * BL, ctx);
      cuda::ZeroBytes(dscores, sizeof(float) * BL, ctx);
      cuda::last_step_backward(dh2, dinterest, B, L, D, ctx);
      cuda::gru_backward(dh, dweights, evolution.Grads(&grads), dh2, &evolution_cache,
                         evolution.Weights(&params), h, h2, d_lengths.data(), weights,
                         GruVariant::kAugru, gru_shape, ctx, recurrence);
      cuda::masked_softmax_backward(dscores, dweights, weights, d_mask, B, L, ctx);
      cuda::attention_unit_backward(dh, dtarget, att_g, dscores, &att_cache, att_w, h, target,
                                    d_mask, att_shape, ctx);
      cuda::gru_backward(dhistory, nullptr, extractor.Grads(&grads), dh, &extractor_cache,
                         extractor.Weights(&params), history, h, d_lengths.data(), nullptr,
                         GruVariant::kGru, gru_shape, ctx, recurrence);
    }
    cuda::embedding_scatter_add(row_grads.at(0), dhistory, d_history_slots.data(),
                                static_cast<int>(BL), kFields, kEmbedding, ctx);
    cuda::embedding_scatter_add(row_grads.at(0), dtarget, d_target_slots.data(), B, kFields,
                                kEmbedding, ctx);
  };

  for (int i = 0; i < FLAGS_warmup; ++i) step();
  Status s = ctx->Synchronize();
  CHECK(s.ok()) << s.ToString();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < FLAGS_steps; ++i) step();
  s = ctx->Synchronize();
  CHECK(s.ok()) << s.ToString();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  float host_loss = 0;
  CHECK(cuda::CopyToHost(&host_loss, loss, 1, ctx).ok());
  CHECK(std::isfinite(host_loss)) << "non-finite loss";
  const char* name = !dien ? "din"
                     : recurrence == cuda::GruRecurrence::kPerStep ? "dien (per-step GRU)"
                     : cuda::GruFusedFits(D, ctx)                  ? "dien (fused GRU)"
                                                                   : "dien (per-step: U too large)";
  std::printf("cuda_bench %s batch %d history %d: %.3f ms/step, %.0f samples/s (loss %.4f)\n",
              name, B, L, 1e3 * seconds / FLAGS_steps,
              FLAGS_steps * static_cast<double>(B) / seconds, host_loss);
}

}  // namespace
}  // namespace dips

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  google::InitGoogleLogging(argv[0]);
  auto ctx = dips::cuda::CudaContext::Create(0);
  if (!ctx.ok()) {
    std::printf("cuda_bench: skipped: no GPU (%s)\n", ctx.status().ToString().c_str());
    return 0;
  }
  std::printf("cuda_bench on %s\n", (*ctx)->DeviceName().c_str());
  using dips::cuda::GruRecurrence;
  if (FLAGS_gru != "both" && FLAGS_gru != "fused" && FLAGS_gru != "per_step") {
    std::fprintf(stderr, "cuda_bench: --gru must be fused, per_step or both\n");
    return 2;
  }
  if (FLAGS_model != "dien") dips::RunModel(false, GruRecurrence::kAuto, ctx->get());
  if (FLAGS_model != "din") {
    if (FLAGS_gru != "fused") dips::RunModel(true, GruRecurrence::kPerStep, ctx->get());
    if (FLAGS_gru != "per_step") dips::RunModel(true, GruRecurrence::kAuto, ctx->get());
  }
  return 0;
}
