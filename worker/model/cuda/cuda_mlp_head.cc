#include "worker/model/cuda/cuda_mlp_head.h"

#include <glog/logging.h>

#include <algorithm>

namespace dips {
namespace cuda {

CudaMlpHead::CudaMlpHead(const MlpHeadShape& shape, const std::string& prefix,
                         ParamLayout* params, ParamLayout* state)
    : shape_(shape),
      layers_(RegisterMlpHead(shape, prefix, params, state)),
      pre_(shape.hidden.size()),
      out_(shape.hidden.size()),
      dout_(shape.hidden.size()),
      dice_(shape.hidden.size()) {}

void CudaMlpHead::Forward(float* logits, const float* x, int rows, const float* params,
                          float* state, bool training, CudaContext* ctx) {
  const float* input = x;
  const int num_hidden = static_cast<int>(shape_.hidden.size());
  for (int i = 0; i < num_hidden; ++i) {
    const MlpLayerParams& l = layers_[i];
    const size_t n = static_cast<size_t>(rows) * l.out;
    if (!pre_[i].Grow(n, ctx) || !out_[i].Grow(n, ctx)) return;
    float* pre = pre_[i].data();
    float* out = out_[i].data();
    linear_forward(pre, input, params + l.w, params + l.b, rows, l.in, l.out, ctx);
    switch (shape_.activation) {
      case HiddenActivation::kSigmoid:
        sigmoid_forward(out, pre, n, ctx);
        break;
      case HiddenActivation::kPrelu:
        prelu_forward(out, pre, params + l.alpha, rows, l.out, ctx);
        break;
      case HiddenActivation::kDice: {
        const DiceShape ds{rows, l.out, shape_.dice_eps, shape_.dice_momentum};
        dice_forward(out, &dice_[i], pre, params + l.alpha, nullptr, training,
                     state + l.moving_mean, state + l.moving_var, ds, ctx);
        break;
      }
    }
    input = out;
  }
  const MlpLayerParams& last = layers_.back();
  linear_forward(logits, input, params + last.w, params + last.b, rows, last.in, 1, ctx);
}

void CudaMlpHead::Backward(float* dx, const float* dlogits, const float* x, int rows,
                           const float* params, float* param_grads, CudaContext* ctx) {
  const int num_hidden = static_cast<int>(shape_.hidden.size());
  CHECK_GE(num_hidden, 1);
  // dout_[i]: gradient of hidden layer i's output. The output layer fills
  // the last one; layer i's input gradient is dout_[i - 1] (or dx).
  size_t widest = 0;
  for (int i = 0; i < num_hidden; ++i) widest = std::max<size_t>(widest, layers_[i].out);
  if (!dpre_.Grow(static_cast<size_t>(rows) * widest, ctx)) return;
  const MlpLayerParams& last = layers_.back();
  if (!dout_[num_hidden - 1].GrowZeroed(static_cast<size_t>(rows) * last.in, ctx)) return;
  linear_backward(dout_[num_hidden - 1].data(), param_grads + last.w, param_grads + last.b,
                  dlogits, out_[num_hidden - 1].data(), params + last.w, rows, last.in, 1, ctx);
  for (int i = num_hidden - 1; i >= 0; --i) {
    const MlpLayerParams& l = layers_[i];
    const size_t n = static_cast<size_t>(rows) * l.out;
    if (!dpre_.GrowZeroed(n, ctx)) return;
    float* dpre = dpre_.data();
    const float* dout = dout_[i].data();
    switch (shape_.activation) {
      case HiddenActivation::kSigmoid:
        sigmoid_backward(dpre, dout, out_[i].data(), n, ctx);
        break;
      case HiddenActivation::kPrelu:
        prelu_backward(dpre, param_grads + l.alpha, dout, pre_[i].data(), params + l.alpha, rows,
                       l.out, ctx);
        break;
      case HiddenActivation::kDice: {
        const DiceShape ds{rows, l.out, shape_.dice_eps, shape_.dice_momentum};
        dice_backward(dpre, param_grads + l.alpha, dout, &dice_[i], pre_[i].data(),
                      params + l.alpha, nullptr, ds, ctx);
        break;
      }
    }
    const float* input = i == 0 ? x : out_[i - 1].data();
    float* dinput = dx;
    if (i > 0) {
      if (!dout_[i - 1].GrowZeroed(static_cast<size_t>(rows) * l.in, ctx)) return;
      dinput = dout_[i - 1].data();
    }
    linear_backward(dinput, param_grads + l.w, param_grads + l.b, dpre, input, params + l.w, rows,
                    l.in, l.out, ctx);
  }
}

}  // namespace cuda
}  // namespace dips
