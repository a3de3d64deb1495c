// Fully connected layer over a batch of rows. Row-major throughout.
//   y[n x out] = x[n x in] . w[in x out] + b[out]
// Backward accumulates (+=) into every gradient buffer; pass nullptr for a
// gradient that is not needed (dx of an input, db of a layer without bias).
#ifndef DIPS_WORKER_MODEL_LAYERS_LINEAR_H_
#define DIPS_WORKER_MODEL_LAYERS_LINEAR_H_

namespace dips {

template <typename T>
void linear_forward(T* y, const T* x, const T* w, const T* b, int n, int in, int out);

template <typename T>
void linear_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w,
                     int n, int in, int out);

}  // namespace dips

#endif  // DIPS_WORKER_MODEL_LAYERS_LINEAR_H_
