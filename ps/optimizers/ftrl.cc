// FTRL-proximal (McMahan et al. 2013, "Ad Click Prediction: a View from the
// Trenches", Algorithm 1), per coordinate, with alpha = learning_rate and two
// state floats per weight, z and n:
//   sigma = (sqrt(n + g^2) - sqrt(n)) / alpha
//   z += g - sigma * w
//   n += g^2
//   w = 0                                                   if |z| <= l1
//   w = -(z - sign(z) * l1) / ((beta + sqrt(n)) / alpha + l2)  otherwise
// The weight is a function of (z, n); it is stored next to them so Pull never
// recomputes it.
//
// Initial state: n = 0 and z = -w0 * (beta / alpha + l2), which is the z for
// which the closed form above returns w0 when l1 = 0. With l1 > 0 the first
// update applies the l1 shrinkage to the random initial weights like to any
// other weight: a coordinate whose |z| stays within l1 becomes exactly 0, the
// others move towards 0 by l1 / ((beta + sqrt(n)) / alpha + l2). The random
// initialisation then only breaks symmetry for the first forward passes,
// which is what l1 sparsity asks for.
#include <cmath>

#include "ps/optimizers/optimizers.h"

namespace dips {
namespace sparse_optimizers {

void FtrlInitState(const SparseOptimizerOptions& options, int dim, const float* weights,
                   float* state) {
  const float scale = options.ftrl_beta / options.learning_rate + options.ftrl_l2;
  float* z = state;
  float* n = state + dim;
  for (int i = 0; i < dim; ++i) {
    z[i] = -weights[i] * scale;
    n[i] = 0.0f;
  }
}

void FtrlUpdate(const SparseOptimizerOptions& options, int dim, const float* grad,
                float* weights, float* state) {
  const float alpha = options.learning_rate;
  const float beta = options.ftrl_beta;
  const float l1 = options.ftrl_l1;
  const float l2 = options.ftrl_l2;
  float* z = state;
  float* n = state + dim;
  for (int i = 0; i < dim; ++i) {
    const float g = grad[i];
    const float sqrt_n_old = std::sqrt(n[i]);
    const float n_new = n[i] + g * g;
    const float sqrt_n_new = std::sqrt(n_new);
    const float sigma = (sqrt_n_new - sqrt_n_old) / alpha;
    z[i] += g - sigma * weights[i];
    n[i] = n_new;
    if (std::fabs(z[i]) <= l1) {
      weights[i] = 0.0f;
    } else {
      const float shrunk = z[i] - std::copysign(l1, z[i]);
      weights[i] = -shrunk / ((beta + sqrt_n_new) / alpha + l2);
    }
  }
}

}  // namespace sparse_optimizers
}  // namespace dips
