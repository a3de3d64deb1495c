// The CUDA backend: fp32 forward/backward pairs that mirror the CPU layers
// in worker/model/layers/ on device memory. This is the one header a user
// of the backend includes (it brings in cuda_context.h).
//
// Conventions, identical to the CPU layers so the CPU code stays the
// reference (tests/gpu/ compares the two on random shapes):
//  - Every pointer is a device pointer unless a comment says otherwise, and
//    each argument means what it means in the CPU function of the same name
//    (same order; the CudaContext comes last). Shapes are row-major.
//  - Backward functions accumulate (+=) into gradient buffers; a null
//    gradient pointer means "not needed". The caller zeroes buffers.
//  - Calls are asynchronous on ctx's stream; errors are recorded in ctx
//    (see cuda_context.h) and a call on a failed context does nothing.
//  - Caches are grow-only device buffers owned by the caller, one per
//    forward/backward pair in flight.
// Known numerical differences from the CPU: sums run in a different order
// (tree reductions; atomicAdd in the scatter-add, whose order is not fixed)
// and exp/tanh are CUDA's, not fast_math.h's, so results agree to a few
// float ulps per operation, not bit for bit.
#ifndef DIPS_WORKER_MODEL_CUDA_CUDA_LAYERS_H_
#define DIPS_WORKER_MODEL_CUDA_CUDA_LAYERS_H_

#include <cstddef>
#include <cstdint>

#include "worker/model/cuda/cuda_context.h"
#include "worker/model/layers/attention_unit.h"
#include "worker/model/layers/aux_loss.h"
#include "worker/model/layers/dice.h"
#include "worker/model/layers/gru.h"

namespace dips {
namespace cuda {

// ---- Linear (layers/linear.h): y[n x out] = x[n x in] w[in x out] + b ----
void linear_forward(float* y, const float* x, const float* w, const float* b, int n, int in,
                    int out, CudaContext* ctx);
void linear_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                     const float* w, int n, int in, int out, CudaContext* ctx);

// ---- Activations (layers/activations.h) ----
void sigmoid_forward(float* y, const float* x, size_t n, CudaContext* ctx);
void sigmoid_backward(float* dx, const float* dy, const float* y, size_t n, CudaContext* ctx);
void prelu_forward(float* y, const float* x, const float* alpha, int n, int units,
                   CudaContext* ctx);
void prelu_backward(float* dx, float* dalpha, const float* dy, const float* x, const float* alpha,
                    int n, int units, CudaContext* ctx);

// ---- Dice (layers/dice.h; same statistics, masking and fallbacks) ----
struct DiceCache {
  DeviceBuffer<float> mean, var, inv_std;  // [units]
  DeviceBuffer<float> normed, p;           // [rows x units]
  DeviceBuffer<float> sums;                // [2 x units] backward scratch
  // [1] rows that entered the statistics; kept on the device so a
  // training step never waits for the host.
  DeviceBuffer<int32_t> valid_rows;
  bool training = false;
};
// mask may be null (all rows valid). moving_mean/var may be null in
// training; evaluation needs them (CHECK, as on the CPU).
void dice_forward(float* y, DiceCache* cache, const float* x, const float* alpha,
                  const float* mask, bool training, float* moving_mean, float* moving_var,
                  const DiceShape& shape, CudaContext* ctx);
void dice_backward(float* dx, float* dalpha, const float* dy, DiceCache* cache, const float* x,
                   const float* alpha, const float* mask, const DiceShape& shape,
                   CudaContext* ctx);

// ---- Embedding (layers/embedding.h); slots are device int32, -1 = padding ----
void embedding_gather(float* out, const float* rows, const int32_t* slots, int num, int fields,
                      int dim, CudaContext* ctx);
// Repeated slots sum with atomicAdd (order not fixed).
void embedding_scatter_add(float* drows, const float* dout, const int32_t* slots, int num,
                           int fields, int dim, CudaContext* ctx);

// ---- Pooling and masked softmax (layers/pooling.h) ----
void weighted_sum_pooling_forward(float* out, const float* values, const float* weights,
                                  const float* mask, int batch, int length, int dim,
                                  CudaContext* ctx);
void weighted_sum_pooling_backward(float* dvalues, float* dweights, const float* dout,
                                   const float* values, const float* weights, const float* mask,
                                   int batch, int length, int dim, CudaContext* ctx);
void masked_softmax_forward(float* y, const float* x, const float* mask, int batch, int length,
                            CudaContext* ctx);
void masked_softmax_backward(float* dx, const float* dy, const float* y, const float* mask,
                             int batch, int length, CudaContext* ctx);

// ---- Loss (layers/loss.h) ----
// As the CPU's, but the mean BCE goes to the device scalar *loss (summed
// in double) instead of being returned, so the step need not synchronise.
void sigmoid_bce_forward(float* probs, float* loss, const float* logits, const float* labels,
                         int n, CudaContext* ctx);
void sigmoid_bce_backward(float* dlogits, const float* probs, const float* labels, int n,
                          float scale, CudaContext* ctx);

// ---- Model glue (what ctr_model.cc / dien_model.cc do between layers) ----
// x[b] = [extra[b] (pd), target[b] (D), pooled[b] (D), target*pooled (D),
// interest[b] (u)], X = pd + 3D + u columns.
void head_input_forward(float* x, const float* extra, const float* target, const float* pooled,
                        const float* interest, int batch, int pd, int dim, int u,
                        CudaContext* ctx);
// Splits dx back; OVERWRITES dextra, dtarget, dpooled and dinterest (as
// ctr_model.cc does), each of which may be null when pd or u is 0.
void head_input_backward(float* dextra, float* dtarget, float* dpooled, float* dinterest,
                         const float* dx, const float* target, const float* pooled, int batch,
                         int pd, int dim, int u, CudaContext* ctx);
// out[b] = seq[b, length-1] (DIEN's h'_T); backward dseq[b, length-1] += dout[b].
void last_step_forward(float* out, const float* seq, int batch, int length, int dim,
                       CudaContext* ctx);
void last_step_backward(float* dseq, const float* dout, int batch, int length, int dim,
                        CudaContext* ctx);

// ---- DIN's activation unit (layers/attention_unit.h) ----
// Weights/grads use the CPU structs, filled with device pointers. Unlike the
// CPU unit, which packs the valid positions, this one computes every
// position and masks padding (learning the valid count would cost a
// device-to-host sync per call); padded rows are zeroed before the first
// layer, left out of Dice's statistics and receive zero gradient, so all
// outputs and gradients are those of the CPU unit.
struct AttentionUnitCache {
  DeviceBuffer<float> folded_w;    // [2D x h1] rows: W1 + W3, then W4
  DeviceBuffer<float> query_term;  // [batch x h1] (W2 - W3) q + b1
  DeviceBuffer<float> keys_kq;     // [N x 2D] [k, k*q], zero at padding
  DeviceBuffer<float> pre1, out1;  // [N x h1]
  DeviceBuffer<float> pre2, out2;  // [N x h2]
  DeviceBuffer<float> dscore;      // [N]
  DeviceBuffer<float> dout2, dpre2, dout1, dpre1;
  DeviceBuffer<float> dquery_term, dfolded_w, dkeys_kq;
  DiceCache dice1, dice2;
  bool training = false;
};
void attention_unit_forward(float* scores, AttentionUnitCache* cache,
                            const AttentionUnitWeights<float>& weights, const float* keys,
                            const float* query, const float* mask, bool training,
                            const AttentionUnitShape& shape, CudaContext* ctx);
void attention_unit_backward(float* dkeys, float* dquery, const AttentionUnitGrads<float>& grads,
                             const float* dscores, AttentionUnitCache* cache,
                             const AttentionUnitWeights<float>& weights, const float* keys,
                             const float* query, const float* mask,
                             const AttentionUnitShape& shape, CudaContext* ctx);

// ---- GRU / AUGRU / AGRU (layers/gru.h) ----
// lengths and attention are device arrays. One GEMM computes all input
// projections (and, in backward, the weight and input gradients); the
// recurrence over the steps runs one of two ways:
//   * fused: one kernel per pass. Each block copies U into shared memory
//     and walks every step for a few sequences, one warp per sequence, so
//     a pass is one launch instead of two per step. A step of a batch is
//     far too small to fill the GPU, so launch latency, not arithmetic,
//     bounds the per-step way (docs/cuda.md).
//   * per step: a cuBLAS GEMM for h_{t-1} U and a cell kernel per step, the
//     CPU's batched structure; for U larger than a block's shared memory.
// Steps past the longest sequence run too (their cells only carry the
// state), so no lengths need to reach the host. Any gradient pointer may be
// null.
enum class GruRecurrence {
  kAuto,     // fused when U fits in shared memory, else per step
  kPerStep,  // always per step (tests and benchmarks compare the two)
};
// Whether kAuto fuses for this hidden size on ctx's device.
bool GruFusedFits(int hidden, CudaContext* ctx);
struct GruCache {
  DeviceBuffer<float> input_proj, hidden_proj, gates;  // [rows x 3H]
  DeviceBuffer<float> dgates, dgates_hidden;           // [rows x 3H]
  DeviceBuffer<float> dh;                              // [batch x H]
};
void gru_forward(float* hidden, GruCache* cache, const GruWeights<float>& weights,
                 const float* inputs, const int32_t* lengths, const float* attention,
                 GruVariant variant, const GruShape& shape, CudaContext* ctx,
                 GruRecurrence recurrence = GruRecurrence::kAuto);
void gru_backward(float* dinputs, float* dattention, const GruGrads<float>& grads,
                  const float* dhidden, GruCache* cache, const GruWeights<float>& weights,
                  const float* inputs, const float* hidden, const int32_t* lengths,
                  const float* attention, GruVariant variant, const GruShape& shape,
                  CudaContext* ctx, GruRecurrence recurrence = GruRecurrence::kAuto);

// AIGRU's input scaling (layers/gru.h): scaled[i, k] = attention[i] *
// hidden[i, k]; backward accumulates into dhidden and dattention (either
// may be null).
void aigru_input_forward(float* scaled, const float* hidden, const float* attention, size_t rows,
                         int dim, CudaContext* ctx);
void aigru_input_backward(float* dhidden, float* dattention, const float* dscaled,
                          const float* hidden, const float* attention, size_t rows, int dim,
                          CudaContext* ctx);

// ---- DIEN's auxiliary loss (layers/aux_loss.h) ----
// The CPU packs the pairs (b, t) with t + 1 < lengths[b] into 2 * pairs
// rows; finding them needs the lengths on the host. Here every position
// p = b*length + t has its two rows, the positive p and the negative N + p
// (N = batch*length), and positions that are no pair are masked: their
// input is zero, they stay out of the mean, and their logit gradient is 0,
// so they add exactly nothing to any gradient. Outputs and gradients are
// the CPU's; the cost is computing the padding.
struct AuxLossCache {
  DeviceBuffer<float> valid;  // [N] 1 where position p starts a pair
  DeviceBuffer<float> count;  // [1] 2 * pairs, the mean's denominator
  DeviceBuffer<float> input;  // [2N x (H + D)] MLP only: [h_t, e_{t+1}] / [h_t, neg_{t+1}]
  DeviceBuffer<float> pre1, out1;           // [2N x hidden1]
  DeviceBuffer<float> pre2, out2;           // [2N x hidden2]
  DeviceBuffer<float> logits, probs;        // [2N]
  DeviceBuffer<float> dlogits;              // [2N]
  DeviceBuffer<float> dout2, dpre2, dout1, dpre1, dinput;
};
// As the CPU's, but the mean loss goes to the device scalar *loss (0 when
// there is no pair) instead of being returned. lengths is a device array.
void aux_loss_forward(float* loss, AuxLossCache* cache, const AuxNetWeights<float>& weights,
                      const float* hidden, const float* behaviours, const float* negatives,
                      const int32_t* lengths, const AuxLossShape& shape, CudaContext* ctx);
void aux_loss_backward(float* dhidden, float* dbehaviours, float* dnegatives,
                       const AuxNetGrads<float>& grads, float scale, AuxLossCache* cache,
                       const AuxNetWeights<float>& weights, const float* hidden,
                       const float* behaviours, const float* negatives, const int32_t* lengths,
                       const AuxLossShape& shape, CudaContext* ctx);

}  // namespace cuda
}  // namespace dips

#endif  // DIPS_WORKER_MODEL_CUDA_CUDA_LAYERS_H_
