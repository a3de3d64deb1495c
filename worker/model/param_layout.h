// ParamLayout: builds the named views of a flat buffer (dense parameters or
// Dice state) and knows how to initialise each one. Components register
// their tensors in order at construction; the model then hands out views
// and runs one initialisation loop over the buffer.
#ifndef DIPS_WORKER_MODEL_PARAM_LAYOUT_H_
#define DIPS_WORKER_MODEL_PARAM_LAYOUT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "worker/model/model.h"

namespace dips {

// How one view is initialised.
struct ParamInit {
  enum class Kind { kConstant, kGlorotUniform, kShiftedIdentity, kLeadingConstant };
  Kind kind = Kind::kConstant;
  double value = 0.0;  // kConstant, kLeadingConstant
  int fan_in = 0;      // kGlorotUniform: U(-l, l), l = sqrt(6 / (fan_in + fan_out))
  int fan_out = 0;
  // kShiftedIdentity: a row-major [rows x cols] matrix, 0 but for 1 at
  // (i, col_offset + i); kLeadingConstant: `value` in the first `count`
  // elements, 0 after.
  int rows = 0, cols = 0, col_offset = 0;
  size_t count = 0;

  static ParamInit Constant(double v) { return {Kind::kConstant, v}; }
  static ParamInit Glorot(int in, int out) { return {Kind::kGlorotUniform, 0.0, in, out}; }
  static ParamInit ShiftedIdentity(int rows, int cols, int col_offset) {
    ParamInit init;
    init.kind = Kind::kShiftedIdentity;
    init.rows = rows;
    init.cols = cols;
    init.col_offset = col_offset;
    return init;
  }
  static ParamInit LeadingConstant(size_t count, double value) {
    ParamInit init;
    init.kind = Kind::kLeadingConstant;
    init.count = count;
    init.value = value;
    return init;
  }
};

class ParamLayout {
 public:
  // Appends a view of `size` elements; returns its offset. `lr_scale`: the
  // view's dense learning rate as a multiple of the optimiser's (>= 0).
  size_t Add(const std::string& name, size_t size, const ParamInit& init, float lr_scale = 1.0f);

  const std::vector<ParamView>& views() const { return views_; }
  size_t size() const { return size_; }

  // Fills data[0, size()) view by view. Random draws come from one
  // std::mt19937_64 seeded with `seed`, turned into doubles by our own
  // arithmetic (not std::uniform_real_distribution, whose algorithm is
  // implementation-defined), so float and double buffers get the same
  // values up to rounding on every platform.
  template <typename T>
  void Initialize(T* data, uint64_t seed) const;

 private:
  std::vector<ParamView> views_;
  std::vector<ParamInit> inits_;
  size_t size_ = 0;
};

}  // namespace dips

#endif  // DIPS_WORKER_MODEL_PARAM_LAYOUT_H_
