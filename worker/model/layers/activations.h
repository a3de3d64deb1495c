// Element-wise activations. Backward functions accumulate (+=) into dx and
// parameter gradients.
#ifndef DIPS_WORKER_MODEL_LAYERS_ACTIVATIONS_H_
#define DIPS_WORKER_MODEL_LAYERS_ACTIVATIONS_H_

#include <cstddef>

namespace dips {

// y = 1 / (1 + exp(-x)); backward uses the saved output y.
template <typename T>
void sigmoid_forward(T* y, const T* x, size_t n);
template <typename T>
void sigmoid_backward(T* dx, const T* dy, const T* y, size_t n);

// PReLU with one learned slope per unit: y = x if x > 0 else alpha[u] * x.
// x, y: [n x units]. In backward, dx or dalpha may be null (not needed).
template <typename T>
void prelu_forward(T* y, const T* x, const T* alpha, int n, int units);
template <typename T>
void prelu_backward(T* dx, T* dalpha, const T* dy, const T* x, const T* alpha,
                    int n, int units);
// The same gradients, except that dx (not null) is overwritten instead of
// accumulated: a caller that owns dx saves the pass that would clear it,
// which on a layer of 10^6 activations is a few MB of memory traffic.
// dalpha (may be null) still accumulates.
template <typename T>
void prelu_backward_overwrite(T* dx, T* dalpha, const T* dy, const T* x, const T* alpha,
                              int n, int units);

}  // namespace dips

#endif  // DIPS_WORKER_MODEL_LAYERS_ACTIVATIONS_H_
