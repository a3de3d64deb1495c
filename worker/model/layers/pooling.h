// Pooling over the history axis and the masked softmax used by attention.
// Sequences are batch-major: values [batch x length x dim]; mask [batch x
// length] is 1 for a real behaviour, 0 for padding.
#ifndef DIPS_WORKER_MODEL_LAYERS_POOLING_H_
#define DIPS_WORKER_MODEL_LAYERS_POOLING_H_

namespace dips {

// out[b] = sum_t mask[b,t] * weights[b,t] * values[b,t]; weights null = 1
// (plain masked sum pooling), mask null = all positions valid.
template <typename T>
void weighted_sum_pooling_forward(T* out, const T* values, const T* weights,
                                  const T* mask, int batch, int length, int dim);
// dvalues += ..., dweights += ... (dweights may be null; ignored when
// weights is null).
template <typename T>
void weighted_sum_pooling_backward(T* dvalues, T* dweights, const T* dout,
                                   const T* values, const T* weights,
                                   const T* mask, int batch, int length, int dim);

// DIN's two poolings of one history in one pass over it: sum[b] = sum_t
// mask * values (the head's s) and weighted[b] = sum_t mask * weights *
// values (its v_U).
template <typename T>
void sum_and_weighted_pooling_forward(T* sum, T* weighted, const T* values,
                                      const T* weights, const T* mask, int batch,
                                      int length, int dim);
// Their backward, also one pass: dvalues and dweights are *written* at
// every position (0 at padding), so neither needs clearing first.
template <typename T>
void sum_and_weighted_pooling_backward(T* dvalues, T* dweights, const T* dsum,
                                       const T* dweighted, const T* values,
                                       const T* weights, const T* mask, int batch,
                                       int length, int dim);

// y[b,:] = softmax of x[b,:] over positions with mask 1; masked positions
// get 0, and a row with no valid position is all 0.
template <typename T>
void masked_softmax_forward(T* y, const T* x, const T* mask, int batch, int length);
template <typename T>
void masked_softmax_backward(T* dx, const T* dy, const T* y, const T* mask,
                             int batch, int length);

}  // namespace dips

#endif  // DIPS_WORKER_MODEL_LAYERS_POOLING_H_
