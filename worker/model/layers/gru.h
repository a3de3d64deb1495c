// GRU over a batch of sequences, and its attention-gated variants (DIEN).
// Sequences are batch-major [batch x length x dim] and padded at the end:
// positions t >= lengths[b] carry h_{t-1} through unchanged, so
// hidden[b, length-1] is every sequence's final state. h_0 = 0.
//
//   u_t  = sigmoid(x_t Wu + h_{t-1} Uu + bu)
//   r_t  = sigmoid(x_t Wr + h_{t-1} Ur + br)
//   hc_t = tanh(x_t Wh + r_t * (h_{t-1} Uh) + bh)
//   GRU:   h_t = (1 - u_t) * h_{t-1} + u_t * hc_t
//   AUGRU: u_t <- a_t * u_t, then as GRU          (DIEN's default)
//   AGRU:  h_t = (1 - a_t) * h_{t-1} + a_t * hc_t (u_t unused)
// AIGRU is a plain GRU whose inputs are the states scaled by their
// attention, x_t = a_t * h_t (aigru_input_forward below).
//
// Matrix work is batched: one GEMM for the input projection of all steps,
// then one GEMM per step for the recurrent projection over the batch.
#ifndef DIPS_WORKER_MODEL_LAYERS_GRU_H_
#define DIPS_WORKER_MODEL_LAYERS_GRU_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace dips {

// How attention a_t enters the gate m that mixes candidate and previous state
// (h_t = h_{t-1} + m (hc - h_{t-1})):
//   kGru            m = u                plain GRU, no attention
//   kAugru          m = a u              DIEN paper: a = 0 keeps the state
//   kAgru           m = a                attention replaces the update gate
//   kAugruReference m = u + a (1 - u)    reference code (mouna99/dien
//                   VecAttGRUCell scales the keep gate 1 - u by 1 - a): a = 0
//                   is a plain GRU step, a = 1 takes the candidate whole
enum class GruVariant { kGru, kAugru, kAgru, kAugruReference };

struct GruShape {
  int batch = 0;
  int length = 0;
  int input_dim = 0;  // I
  int hidden = 0;     // H
};

// Gate order in the 3H columns: update u, reset r, candidate hc.
template <typename T>
struct GruWeights {
  const T* w_input = nullptr;   // [I x 3H]
  const T* w_hidden = nullptr;  // [H x 3H]
  const T* bias = nullptr;      // [3H]
};

template <typename T>
struct GruGrads {
  T* w_input = nullptr;
  T* w_hidden = nullptr;
  T* bias = nullptr;
};

// Saved activations and backward scratch. Buffers only grow, so a cache
// reused across batches of the same shape allocates nothing in steady state.
// A cache belongs to one forward/backward pair at a time (not thread-safe).
template <typename T>
struct GruCache {
  std::vector<T> input_proj;  // [batch*length x 3H] x_t W (bias not added)
  std::vector<T> hidden_proj; // [batch*length x 3H] h_{t-1} U (all gates)
  std::vector<T> gates;       // [batch*length x 3H] u, r, hc after activation
  // Backward: gradients w.r.t. the gate pre-activations, as seen by the input
  // projection (u, r, hc) and by the recurrent one (u, r, r * hc). Rows of
  // padded steps and of t = 0 (h_{-1} = 0) are zero in dgates_hidden.
  std::vector<T> dgates;         // [batch*length x 3H]
  std::vector<T> dgates_hidden;  // [batch*length x 3H]
  std::vector<T> dh;             // [batch x H] gradient w.r.t. h_t
  std::vector<T> w_hidden_t;     // [3H x H] U^T, for the per-step products
  std::vector<T> zeros;          // [H] h_{-1} = 0, so step 0 needs no branch
};

// hidden: [batch x length x H] output. attention: [batch x length], required
// for AUGRU/AGRU, ignored (may be null) for GRU.
template <typename T>
void gru_forward(T* hidden, GruCache<T>* cache, const GruWeights<T>& weights,
                 const T* inputs, const int32_t* lengths, const T* attention,
                 GruVariant variant, const GruShape& shape);

// dhidden: gradient w.r.t. every output hidden state [batch x length x H]
// (the caller puts the gradient of the final state at each sequence's last
// position, or anywhere else it used hidden states). dinputs and dattention
// accumulate (+=) and may be null.
template <typename T>
void gru_backward(T* dinputs, T* dattention, const GruGrads<T>& grads,
                  const T* dhidden, GruCache<T>* cache,
                  const GruWeights<T>& weights, const T* inputs,
                  const T* hidden, const int32_t* lengths, const T* attention,
                  GruVariant variant, const GruShape& shape);

// AIGRU's input: scaled[i, k] = attention[i] * hidden[i, k] over `rows`
// rows of `dim` values.
template <typename T>
void aigru_input_forward(T* scaled, const T* hidden, const T* attention, size_t rows, int dim);
// dhidden[i, k] += attention[i] * dscaled[i, k] and dattention[i] +=
// sum_k dscaled[i, k] * hidden[i, k]; either gradient may be null.
template <typename T>
void aigru_input_backward(T* dhidden, T* dattention, const T* dscaled, const T* hidden,
                          const T* attention, size_t rows, int dim);

}  // namespace dips

#endif  // DIPS_WORKER_MODEL_LAYERS_GRU_H_
