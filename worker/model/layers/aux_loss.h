// DIEN's auxiliary loss. For every sequence b and step t with t + 1 <
// lengths[b], the interest state h_t scores the real next behaviour
// e_{t+1} (label 1) and a sampled negative n_{t+1} (label 0):
//   MLP form (default): s = MLP([h_t, e]) with hidden1 -> hidden2 -> 1,
//                       sigmoid hidden activations (reference code);
//   inner product:      s = h_t . e  (needs H == D).
// Loss = mean binary cross-entropy over all 2 * pairs (0 if no pair).
#ifndef DIPS_WORKER_MODEL_LAYERS_AUX_LOSS_H_
#define DIPS_WORKER_MODEL_LAYERS_AUX_LOSS_H_

#include <cstdint>
#include <vector>

namespace dips {

enum class AuxNetKind { kMlp, kInnerProduct };

struct AuxLossShape {
  int batch = 0;
  int length = 0;
  int hidden = 0;    // H
  int dim = 0;       // D, behaviour vector size
  int hidden1 = 100;
  int hidden2 = 50;
  AuxNetKind kind = AuxNetKind::kMlp;
};

template <typename T>
struct AuxNetWeights {
  const T* w1 = nullptr;  // [(H + D) x hidden1]
  const T* b1 = nullptr;
  const T* w2 = nullptr;  // [hidden1 x hidden2]
  const T* b2 = nullptr;
  const T* w3 = nullptr;  // [hidden2 x 1]
  const T* b3 = nullptr;
};

template <typename T>
struct AuxNetGrads {
  T* w1 = nullptr;
  T* b1 = nullptr;
  T* w2 = nullptr;
  T* b2 = nullptr;
  T* w3 = nullptr;
  T* b3 = nullptr;
};

// Saved activations and backward scratch; buffers only grow (no allocation
// in steady state). Rows 0..pairs-1 score the positives, rows pairs..2*pairs-1
// the negatives of the same pairs. Not thread-safe.
template <typename T>
struct AuxLossCache {
  int pairs = 0;
  std::vector<int32_t> pair_index;  // [pairs] b*length + t of each pair
  std::vector<T> input;    // [2*pairs x (H + D)]  MLP only
  std::vector<T> out1;     // [2*pairs x hidden1]
  std::vector<T> out2;     // [2*pairs x hidden2]
  std::vector<T> logits, probs, labels;  // [2*pairs]
  std::vector<T> dlogits, dpre1, dpre2, dinput;  // backward
};

// hidden [batch x length x H]; behaviours and negatives [batch x length x D]
// (negatives[b, t] stands against behaviours[b, t]; position 0 unused).
// Returns the mean loss. The inner-product form ignores `weights` (may be all
// null) and needs hidden == dim.
template <typename T>
T aux_loss_forward(AuxLossCache<T>* cache, const AuxNetWeights<T>& weights,
                   const T* hidden, const T* behaviours, const T* negatives,
                   const int32_t* lengths, const AuxLossShape& shape);

// Backward of scale * loss, after aux_loss_forward on the same inputs and
// cache. dhidden, dbehaviours, dnegatives and the weight gradients accumulate
// (+=); any of the three input gradients may be null.
template <typename T>
void aux_loss_backward(T* dhidden, T* dbehaviours, T* dnegatives,
                       const AuxNetGrads<T>& grads, T scale,
                       AuxLossCache<T>* cache, const AuxNetWeights<T>& weights,
                       const T* hidden, const T* behaviours,
                       const T* negatives, const int32_t* lengths,
                       const AuxLossShape& shape);

}  // namespace dips

#endif  // DIPS_WORKER_MODEL_LAYERS_AUX_LOSS_H_
