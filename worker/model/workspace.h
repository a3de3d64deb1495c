// Activation buffers that only grow: a model resizes them to the current
// batch's needs and never shrinks them, so once it has seen a batch of a
// given shape, later steps of that shape allocate nothing.
#ifndef DIPS_WORKER_MODEL_WORKSPACE_H_
#define DIPS_WORKER_MODEL_WORKSPACE_H_

#include <algorithm>
#include <cstddef>
#include <vector>

namespace dips {

// At least n elements; contents unspecified.
template <typename T>
T* Grow(std::vector<T>* v, size_t n) {
  if (v->size() < n) v->resize(n);
  return v->data();
}

// At least n elements, the first n zero (for buffers that backward
// passes accumulate into).
template <typename T>
T* GrowZeroed(std::vector<T>* v, size_t n) {
  T* p = Grow(v, n);
  std::fill(p, p + n, T(0));
  return p;
}

}  // namespace dips

#endif  // DIPS_WORKER_MODEL_WORKSPACE_H_
