#include "worker/model/layers/embedding.h"

// `#pragma omp simd` marks the element-wise loops: at -O2 GCC only vectorises
// loops whose trip count it knows, and these loops have no dependence between
// iterations (outputs never alias inputs of another index).

#include <algorithm>
#include <cstddef>

namespace dips {

template <typename T>
void embedding_gather(T* out, const T* rows, const int32_t* slots, int num, int fields, int dim) {
  for (int i = 0; i < num; ++i) {
    for (int f = 0; f < fields; ++f) {
      const int32_t slot = slots[static_cast<size_t>(i) * fields + f];
      T* dst = out + (static_cast<size_t>(i) * fields + f) * dim;
      if (slot < 0) {
        std::fill(dst, dst + dim, T(0));
      } else {
        const T* src = rows + static_cast<size_t>(slot) * dim;
        std::copy(src, src + dim, dst);
      }
    }
  }
}

template <typename T>
void embedding_scatter_add(T* drows, const T* dout, const int32_t* slots, int num, int fields,
                           int dim) {
  // Sequential over (i, f): a key repeated within the batch sums its
  // gradients in a fixed order, so results are reproducible.
  for (int i = 0; i < num; ++i) {
    for (int f = 0; f < fields; ++f) {
      const int32_t slot = slots[static_cast<size_t>(i) * fields + f];
      if (slot < 0) continue;
      const T* src = dout + (static_cast<size_t>(i) * fields + f) * dim;
      T* dst = drows + static_cast<size_t>(slot) * dim;
#pragma omp simd
      for (int d = 0; d < dim; ++d) dst[d] += src[d];
    }
  }
}

template void embedding_gather<float>(float*, const float*, const int32_t*, int, int, int);
template void embedding_gather<double>(double*, const double*, const int32_t*, int, int, int);
template void embedding_scatter_add<float>(float*, const float*, const int32_t*, int, int, int);
template void embedding_scatter_add<double>(double*, const double*, const int32_t*, int, int, int);

}  // namespace dips
