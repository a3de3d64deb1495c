// Embedding gather and gradient scatter. `rows` holds one row of `dim`
// values per unique key of the batch (Batch::unique_keys order); a slot is an
// index into it, -1 for padding.
//   out[i] = concat_f rows[slots[i*fields + f]]     (zeros for slot -1)
#ifndef DIPS_WORKER_MODEL_LAYERS_EMBEDDING_H_
#define DIPS_WORKER_MODEL_LAYERS_EMBEDDING_H_

#include <cstdint>

namespace dips {

// out: [num x fields*dim]
template <typename T>
void embedding_gather(T* out, const T* rows, const int32_t* slots, int num,
                      int fields, int dim);

// drows[slot] += the matching dim-slice of dout; padding slots are skipped.
template <typename T>
void embedding_scatter_add(T* drows, const T* dout, const int32_t* slots,
                           int num, int fields, int dim);

}  // namespace dips

#endif  // DIPS_WORKER_MODEL_LAYERS_EMBEDDING_H_
