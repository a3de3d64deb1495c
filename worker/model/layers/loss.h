// Sigmoid + binary cross-entropy on logits, averaged over n samples.
#ifndef DIPS_WORKER_MODEL_LAYERS_LOSS_H_
#define DIPS_WORKER_MODEL_LAYERS_LOSS_H_

namespace dips {

// probs[i] = sigmoid(logits[i]); returns mean_i BCE(labels[i], probs[i]),
// computed stably from the logits.
template <typename T>
T sigmoid_bce_forward(T* probs, const T* logits, const T* labels, int n);

// dlogits[i] += scale * (probs[i] - labels[i]) / n
template <typename T>
void sigmoid_bce_backward(T* dlogits, const T* probs, const T* labels, int n, T scale);

}  // namespace dips

#endif  // DIPS_WORKER_MODEL_LAYERS_LOSS_H_
