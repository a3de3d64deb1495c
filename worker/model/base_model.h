// Base (embedding & MLP, DIN paper section 4.2): the head sees p, v_A, s
// and v_A * s only; there is no interest vector.
#ifndef DIPS_WORKER_MODEL_BASE_MODEL_H_
#define DIPS_WORKER_MODEL_BASE_MODEL_H_

#include "worker/model/ctr_model.h"

namespace dips {

template <typename T>
class BaseModel final : public CtrModel<T> {
 public:
  explicit BaseModel(const ModelConfig& config) : CtrModel<T>(config, /*interest_dim=*/0) {}

 private:
  // With interest_dim 0 CtrModel never calls these.
  T InterestForward(const Batch&, const SequenceInputs<T>&, const T*, const T*, T*, bool, T*,
                    T*) override {
    return T(0);
  }
  void InterestBackward(const Batch&, const SequenceInputs<T>&, const T*, const T*,
                        const SequenceGrads<T>&, T*, T*) override {}
  double InterestFlops(const Batch&) const override { return 0.0; }
};

}  // namespace dips

#endif  // DIPS_WORKER_MODEL_BASE_MODEL_H_
