// Server-side sparse optimisers. A row of the table holds `dim` weights and
// StateFloatsPerWeight(kind) * dim floats of optimiser state; ApplySparseUpdate
// updates one row from one summed gradient. Lazy: only rows present in a push
// are touched (Adam keeps a per-row step count for its bias correction).
// Each optimiser lives in its own small file (ps/optimizers/*.cc); a plain
// switch picks one.
#ifndef DIPS_PS_SPARSE_OPTIMIZER_H_
#define DIPS_PS_SPARSE_OPTIMIZER_H_

#include <cstdint>
#include <string>

#include "common/adam.h"
#include "common/status.h"

namespace dips {

enum class SparseOptimizerKind { kSgd, kAdagrad, kAdam, kFtrl };

// The update rules and state layouts are written out in docs/optimizers.md.
struct SparseOptimizerOptions {
  SparseOptimizerKind kind = SparseOptimizerKind::kAdagrad;
  float learning_rate = 0.05f;  // > 0; FTRL's alpha
  // Adagrad: accumulator starts here (> 0; avoids a huge first step).
  float adagrad_initial_accumulator = 0.1f;
  // Adam: beta1, beta2 in [0, 1); epsilon > 0.
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float epsilon = 1e-8f;
  // FTRL-proximal (McMahan et al. 2013): alpha = learning_rate, beta > 0,
  // l1 >= 0, l2 >= 0.
  float ftrl_beta = 1.0f;
  float ftrl_l1 = 0.0f;
  float ftrl_l2 = 0.0f;
};

// InvalidArgument if a field the chosen kind uses is out of its range (all
// must be finite). Init/Apply assume valid options; SparseTable::Create checks.
Status ValidateSparseOptimizerOptions(const SparseOptimizerOptions& options);

// Names are "sgd", "adagrad", "adam", "ftrl"; Parse accepts exactly those.
StatusOr<SparseOptimizerKind> ParseSparseOptimizerKind(const std::string& name);
const char* SparseOptimizerName(SparseOptimizerKind kind);

// Floats of optimiser state kept per weight (SGD 0, Adagrad 1, Adam 2, FTRL 2).
int StateFloatsPerWeight(SparseOptimizerKind kind);

// Prepares the state of a freshly created row whose weights are already
// initialised (e.g. FTRL sets z so that its closed form reproduces them).
void InitSparseOptimizerState(const SparseOptimizerOptions& options, int dim,
                              const float* weights, float* state);

// One update of a row. `update_count` is how many updates this row has had
// before this one (0 for the first); Adam uses it for bias correction.
void ApplySparseUpdate(const SparseOptimizerOptions& options, int dim,
                       const float* grad, int64_t update_count,
                       float* weights, float* state);

// ApplySparseUpdate for a table's (valid) options, with what they imply
// computed once: for Adam, the bias corrections of the first updates
// (AdamCorrections), looked up instead of two pow calls per row. The same
// floats as ApplySparseUpdate. Immutable, so any thread may use it.
class SparseUpdater {
 public:
  explicit SparseUpdater(const SparseOptimizerOptions& options);
  void Apply(int dim, const float* grad, int64_t update_count, float* weights,
             float* state) const;

 private:
  const SparseOptimizerOptions options_;
  const AdamCorrections adam_;  // only read for Adam
};

}  // namespace dips

#endif  // DIPS_PS_SPARSE_OPTIMIZER_H_
