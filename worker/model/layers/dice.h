// Dice activation (DIN paper, section 5.2), per unit u over rows i:
//   p = sigmoid((x - mean_u) / sqrt(var_u + eps)),  y = p*x + (1-p)*alpha_u*x.
// Training: mean/var are the statistics of the current rows that have
// mask[i] != 0 (all rows when mask is null), the gradient flows through them,
// and the moving averages (if not null) are updated with `momentum`.
// Evaluation: mean/var are the moving averages; nothing is updated.
// Rows with mask 0 still get an output (computed with the valid rows'
// statistics). Their own dx is the gradient of their output with the
// statistics held fixed (they do not enter mean/var); their dy still reaches
// the valid rows' dx, because their output depends on mean/var. Callers that
// pad normally pass dy = 0 there and ignore dx. dalpha sums over all rows.
// A training call with no valid row falls back to the moving averages (or
// mean 0, var 1 when none are given) and updates nothing.
#ifndef DIPS_WORKER_MODEL_LAYERS_DICE_H_
#define DIPS_WORKER_MODEL_LAYERS_DICE_H_

#include <vector>

namespace dips {

struct DiceShape {
  int rows = 0;   // n
  int units = 0;
  double eps = 1e-8;
  double momentum = 0.99;
};

// What forward saves for backward. Buffers grow on demand and are reused.
template <typename T>
struct DiceCache {
  std::vector<T> mean;    // [units] statistics used in the forward pass
  std::vector<T> var;     // [units]
  std::vector<T> inv_std; // [units] 1 / sqrt(var + eps)
  std::vector<T> normed;  // [rows x units] (x - mean) / sqrt(var + eps)
  std::vector<T> p;       // [rows x units]
  bool training = false;
  int valid_rows = 0;     // rows that entered the batch statistics (training)
};

template <typename T>
void dice_forward(T* y, DiceCache<T>* cache, const T* x, const T* alpha,
                  const T* mask, bool training, T* moving_mean, T* moving_var,
                  const DiceShape& shape);

template <typename T>
void dice_backward(T* dx, T* dalpha, const T* dy, const DiceCache<T>& cache,
                   const T* x, const T* alpha, const T* mask,
                   const DiceShape& shape);

}  // namespace dips

#endif  // DIPS_WORKER_MODEL_LAYERS_DICE_H_
