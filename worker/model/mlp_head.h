// The CTR head shared by Base, DIN and DIEN: x -> hidden[0] -> ... -> 1,
// a linear layer followed by the configured activation (PReLU, Dice or
// sigmoid) for every hidden layer, and a final linear layer to the logit.
// Dice normalises over all rows of the batch (every sample is real).
//
// Owns the saved activations of its last forward pass; parameters and Dice
// moving statistics live in the model's flat buffers at offsets fixed by
// Register. Not thread-safe: one head per model object.
#ifndef DIPS_WORKER_MODEL_MLP_HEAD_H_
#define DIPS_WORKER_MODEL_MLP_HEAD_H_

#include <cstddef>
#include <string>
#include <vector>

#include "worker/model/layers/attention_unit.h"
#include "worker/model/layers/dice.h"
#include "worker/model/param_layout.h"

namespace dips {

struct MlpHeadShape {
  int input_dim = 0;
  std::vector<int> hidden = {200, 80};
  HiddenActivation activation = HiddenActivation::kDice;
  double dice_eps = 1e-8;
  double dice_momentum = 0.99;
};

// Where one layer of the head sits in the model's buffers.
struct MlpLayerParams {
  int in = 0;
  int out = 0;
  size_t w = 0, b = 0, alpha = 0;          // parameter offsets (alpha: PReLU/Dice only)
  size_t moving_mean = 0, moving_var = 0;  // state offsets (Dice only)
};

// Adds the head's views ("<prefix>.0.w", ...) to the layouts, in order, and
// returns the hidden layers followed by the output layer. MlpHead and the
// CUDA head (worker/model/cuda) both register through this, so the two
// backends read the same layout.
std::vector<MlpLayerParams> RegisterMlpHead(const MlpHeadShape& shape, const std::string& prefix,
                                            ParamLayout* params, ParamLayout* state);

template <typename T>
class MlpHead {
 public:
  // Adds this head's views ("<prefix>.w0", ...) to the layouts.
  MlpHead(const MlpHeadShape& shape, const std::string& prefix, ParamLayout* params,
          ParamLayout* state);

  // logits[rows] from x[rows x input_dim].
  void Forward(T* logits, const T* x, int rows, const T* params, T* state, bool training);
  // Accumulates into dx[rows x input_dim] (may be null) and param_grads.
  void Backward(T* dx, const T* dlogits, const T* x, int rows, const T* params, T* param_grads);

  // Matrix-product FLOPs of one forward + backward over `rows`.
  double TrainingFlops(int rows) const;

 private:
  MlpHeadShape shape_;
  std::vector<MlpLayerParams> layers_;  // hidden layers, then the output layer
  // Per hidden layer: pre-activation and activation output [rows x out].
  std::vector<std::vector<T>> pre_, out_;
  std::vector<DiceCache<T>> dice_;
  std::vector<T> dpre_, dout_;  // backward scratch
};

}  // namespace dips

#endif  // DIPS_WORKER_MODEL_MLP_HEAD_H_
