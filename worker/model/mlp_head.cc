#include "worker/model/mlp_head.h"

#include <glog/logging.h>

#include <string>
#include <utility>

#include "worker/model/layers/activations.h"
#include "worker/model/layers/linear.h"
#include "worker/model/workspace.h"

namespace dips {

std::vector<MlpLayerParams> RegisterMlpHead(const MlpHeadShape& shape, const std::string& prefix,
                                            ParamLayout* params, ParamLayout* state) {
  CHECK_GT(shape.input_dim, 0);
  CHECK(!shape.hidden.empty());
  std::vector<MlpLayerParams> layers;
  int in = shape.input_dim;
  const int num_layers = static_cast<int>(shape.hidden.size()) + 1;
  for (int i = 0; i < num_layers; ++i) {
    const bool output = i + 1 == num_layers;
    MlpLayerParams layer;
    layer.in = in;
    layer.out = output ? 1 : shape.hidden[i];
    const std::string n = prefix + "." + std::to_string(i);
    layer.w = params->Add(n + ".w", static_cast<size_t>(layer.in) * layer.out,
                          ParamInit::Glorot(layer.in, layer.out));
    layer.b = params->Add(n + ".b", layer.out, ParamInit::Constant(0.0));
    if (!output && shape.activation == HiddenActivation::kPrelu) {
      layer.alpha = params->Add(n + ".prelu_alpha", layer.out, ParamInit::Constant(0.1));
    }
    if (!output && shape.activation == HiddenActivation::kDice) {
      // Reference code: Dice alphas start at 0 (p(s)*s alone at first).
      layer.alpha = params->Add(n + ".dice_alpha", layer.out, ParamInit::Constant(0.0));
      layer.moving_mean = state->Add(n + ".dice_moving_mean", layer.out, ParamInit::Constant(0.0));
      layer.moving_var = state->Add(n + ".dice_moving_var", layer.out, ParamInit::Constant(1.0));
    }
    layers.push_back(layer);
    in = layer.out;
  }
  return layers;
}

template <typename T>
MlpHead<T>::MlpHead(const MlpHeadShape& shape, const std::string& prefix, ParamLayout* params,
                    ParamLayout* state)
    : shape_(shape), layers_(RegisterMlpHead(shape, prefix, params, state)) {
  pre_.resize(shape.hidden.size());
  out_.resize(shape.hidden.size());
  dice_.resize(shape.hidden.size());
}

template <typename T>
void MlpHead<T>::Forward(T* logits, const T* x, int rows, const T* params, T* state,
                         bool training) {
  const T* input = x;
  const int num_hidden = static_cast<int>(shape_.hidden.size());
  for (int i = 0; i < num_hidden; ++i) {
    const MlpLayerParams& l = layers_[i];
    const size_t n = static_cast<size_t>(rows) * l.out;
    T* pre = Grow(&pre_[i], n);
    T* out = Grow(&out_[i], n);
    linear_forward(pre, input, params + l.w, params + l.b, rows, l.in, l.out);
    switch (shape_.activation) {
      case HiddenActivation::kSigmoid:
        sigmoid_forward(out, pre, n);
        break;
      case HiddenActivation::kPrelu:
        prelu_forward(out, pre, params + l.alpha, rows, l.out);
        break;
      case HiddenActivation::kDice: {
        const DiceShape ds{rows, l.out, shape_.dice_eps, shape_.dice_momentum};
        dice_forward(out, &dice_[i], pre, params + l.alpha, static_cast<const T*>(nullptr),
                     training, state + l.moving_mean, state + l.moving_var, ds);
        break;
      }
    }
    input = out;
  }
  const MlpLayerParams& last = layers_.back();
  linear_forward(logits, input, params + last.w, params + last.b, rows, last.in, 1);
}

template <typename T>
void MlpHead<T>::Backward(T* dx, const T* dlogits, const T* x, int rows, const T* params,
                          T* param_grads) {
  const int num_hidden = static_cast<int>(shape_.hidden.size());
  // dout_ holds the gradient of the current layer's output. Once the
  // activation backward has turned it into dpre_, it is free again and
  // receives the gradient of the layer's input (the next layer down's dout).
  const MlpLayerParams& last = layers_.back();
  T* dout = GrowZeroed(&dout_, static_cast<size_t>(rows) * last.in);
  linear_backward(dout, param_grads + last.w, param_grads + last.b, dlogits,
                  out_[num_hidden - 1].data(), params + last.w, rows, last.in, 1);
  for (int i = num_hidden - 1; i >= 0; --i) {
    const MlpLayerParams& l = layers_[i];
    const size_t n = static_cast<size_t>(rows) * l.out;
    T* dpre = GrowZeroed(&dpre_, n);
    switch (shape_.activation) {
      case HiddenActivation::kSigmoid:
        sigmoid_backward(dpre, dout, out_[i].data(), n);
        break;
      case HiddenActivation::kPrelu:
        prelu_backward(dpre, param_grads + l.alpha, dout, pre_[i].data(), params + l.alpha, rows,
                       l.out);
        break;
      case HiddenActivation::kDice: {
        const DiceShape ds{rows, l.out, shape_.dice_eps, shape_.dice_momentum};
        dice_backward(dpre, param_grads + l.alpha, dout, dice_[i], pre_[i].data(), params + l.alpha,
                      static_cast<const T*>(nullptr), ds);
        break;
      }
    }
    const T* input = i == 0 ? x : out_[i - 1].data();
    T* dinput = nullptr;
    if (i > 0) {
      dinput = GrowZeroed(&dout_, static_cast<size_t>(rows) * l.in);
    } else {
      dinput = dx;
    }
    linear_backward(dinput, param_grads + l.w, param_grads + l.b, dpre, input, params + l.w, rows,
                    l.in, l.out);
    dout = dinput;
  }
}

template <typename T>
double MlpHead<T>::TrainingFlops(int rows) const {
  // Forward y = xW (2mnk) plus backward dW = x^T dy and dx = dy W^T: 3x.
  double flops = 0.0;
  for (const MlpLayerParams& l : layers_) flops += 6.0 * rows * l.in * l.out;
  return flops;
}

template class MlpHead<float>;
template class MlpHead<double>;

}  // namespace dips
