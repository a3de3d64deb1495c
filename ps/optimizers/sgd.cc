// Plain SGD: w -= learning_rate * g. Keeps no state (0 floats per weight).
#include "ps/optimizers/optimizers.h"

namespace dips {
namespace sparse_optimizers {

void SgdUpdate(const SparseOptimizerOptions& options, int dim, const float* grad,
               float* weights) {
  const float lr = options.learning_rate;
  for (int i = 0; i < dim; ++i) weights[i] -= lr * grad[i];
}

}  // namespace sparse_optimizers
}  // namespace dips
