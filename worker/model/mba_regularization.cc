// Mini-batch-aware L2 regularisation (DIN paper 5.1). Only the rows of the
// current batch are penalised, each scaled by 1 / n_k so that frequent keys
// (seen in many batches, so penalised often) are not shrunk harder than
// rare ones.
#include <cstdint>

#include "worker/model/model.h"

namespace dips {

template <typename T>
T mba_regularization(T* row_grads, const T* rows, const uint64_t* counts, int num_rows, int dim,
                     T lambda) {
  T penalty = 0;
  for (int k = 0; k < num_rows; ++k) {
    const uint64_t n = counts[k] < 1 ? 1 : counts[k];
    const T scale = lambda / static_cast<T>(n);
    const T* w = rows + static_cast<size_t>(k) * dim;
    T* g = row_grads + static_cast<size_t>(k) * dim;
    T norm2 = 0;
    for (int i = 0; i < dim; ++i) {
      norm2 += w[i] * w[i];
      g[i] += 2 * scale * w[i];
    }
    penalty += scale * norm2;
  }
  return penalty;
}

template float mba_regularization<float>(float*, const float*, const uint64_t*, int, int, float);
template double mba_regularization<double>(double*, const double*, const uint64_t*, int, int,
                                           double);

}  // namespace dips
