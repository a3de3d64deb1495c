// Internal to dips_ps: one init/update pair per sparse optimiser, each defined
// in its own file next to this header. ps/sparse_optimizer.cc picks one with a
// plain switch; nothing else should call these directly.
//
// Common shape: `dim` weights, `k * dim` state floats laid out as k blocks of
// dim (block j of weight i is state[j * dim + i]). docs/optimizers.md gives
// each rule and state layout in prose.
#ifndef DIPS_PS_OPTIMIZERS_OPTIMIZERS_H_
#define DIPS_PS_OPTIMIZERS_OPTIMIZERS_H_

#include <cstdint>

#include "common/adam.h"
#include "ps/sparse_optimizer.h"

namespace dips {
namespace sparse_optimizers {

// SGD: no state.  w -= lr * g.
inline constexpr int kSgdStateFloats = 0;
void SgdUpdate(const SparseOptimizerOptions& options, int dim, const float* grad,
               float* weights);

// Adagrad: state = [acc(dim)].
inline constexpr int kAdagradStateFloats = 1;
void AdagradInitState(const SparseOptimizerOptions& options, int dim, float* state);
void AdagradUpdate(const SparseOptimizerOptions& options, int dim, const float* grad,
                   float* weights, float* state);

// Lazy Adam: state = [m(dim), v(dim)]; bias correction uses the row's own
// update count.
inline constexpr int kAdamStateFloats = 2;
void AdamInitState(int dim, float* state);
void AdamUpdate(const SparseOptimizerOptions& options, int dim, const float* grad,
                int64_t update_count, float* weights, float* state);
// One row's update with the step's coefficients already chosen.
void AdamApply(const AdamStep& step, int dim, const float* grad, float* weights, float* state);

// FTRL-proximal: state = [z(dim), n(dim)].
inline constexpr int kFtrlStateFloats = 2;
void FtrlInitState(const SparseOptimizerOptions& options, int dim, const float* weights,
                   float* state);
void FtrlUpdate(const SparseOptimizerOptions& options, int dim, const float* grad,
                float* weights, float* state);

}  // namespace sparse_optimizers
}  // namespace dips

#endif  // DIPS_PS_OPTIMIZERS_OPTIMIZERS_H_
