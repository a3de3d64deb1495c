#include "worker/model/param_layout.h"

#include <glog/logging.h>

#include <cmath>
#include <random>

namespace dips {

size_t ParamLayout::Add(const std::string& name, size_t size, const ParamInit& init,
                        float lr_scale) {
  CHECK_GT(size, 0u) << name;
  CHECK_GE(lr_scale, 0.0f) << name;
  if (init.kind == ParamInit::Kind::kShiftedIdentity) {
    CHECK_EQ(size, static_cast<size_t>(init.rows) * init.cols) << name;
  }
  ParamView view;
  view.name = name;
  view.offset = size_;
  view.size = size;
  view.lr_scale = lr_scale;
  views_.push_back(view);
  inits_.push_back(init);
  size_ += size;
  return view.offset;
}

template <typename T>
void ParamLayout::Initialize(T* data, uint64_t seed) const {
  std::mt19937_64 rng(seed);
  for (size_t v = 0; v < views_.size(); ++v) {
    const ParamView& view = views_[v];
    const ParamInit& init = inits_[v];
    T* out = data + view.offset;
    switch (init.kind) {
      case ParamInit::Kind::kConstant:
        for (size_t i = 0; i < view.size; ++i) out[i] = static_cast<T>(init.value);
        continue;
      case ParamInit::Kind::kShiftedIdentity:
        for (size_t i = 0; i < view.size; ++i) out[i] = T(0);
        for (int r = 0; r < init.rows && init.col_offset + r < init.cols; ++r) {
          out[static_cast<size_t>(r) * init.cols + init.col_offset + r] = T(1);
        }
        continue;
      case ParamInit::Kind::kLeadingConstant:
        for (size_t i = 0; i < view.size; ++i) {
          out[i] = i < init.count ? static_cast<T>(init.value) : T(0);
        }
        continue;
      case ParamInit::Kind::kGlorotUniform:
        break;
    }
    const double limit = std::sqrt(6.0 / (init.fan_in + init.fan_out));
    for (size_t i = 0; i < view.size; ++i) {
      // Top 53 bits -> uniform in [0, 1), exactly representable in double.
      const double unit = static_cast<double>(rng() >> 11) * 0x1.0p-53;
      out[i] = static_cast<T>((2.0 * unit - 1.0) * limit);
    }
  }
}

template void ParamLayout::Initialize<float>(float*, uint64_t) const;
template void ParamLayout::Initialize<double>(double*, uint64_t) const;

}  // namespace dips
