// The encoding of one sparse-table row: a fixed-size, contiguous record that
// the memory table keeps in its arenas and that a disk tier or a checkpoint
// can copy byte for byte (little-endian hosts; DIPS builds only for those).
//
//   offset            type     field
//   0                 uint64   count              occurrences so far
//   8                 int64    last_update_step   step of the last push (-1: never)
//   16                int64    update_count       pushes applied so far
//   24                float    weights[dim]
//   24 + 4*dim        float    state[k * dim]     k = StateFloatsPerWeight(kind)
//   24 + 4*(1+k)*dim  zero padding up to a multiple of 8 bytes
//
// The integers come first so their offsets do not depend on dim and stay
// 8-byte aligned; the state's own layout (blocks of dim floats per state
// variable) is in docs/optimizers.md. The key is not part of the row: the
// index (or the disk tier's key) holds it.
#ifndef DIPS_PS_ROW_LAYOUT_H_
#define DIPS_PS_ROW_LAYOUT_H_

#include <cstddef>
#include <cstdint>

namespace dips {

struct RowHeader {
  uint64_t count;
  int64_t last_update_step;
  int64_t update_count;
};
static_assert(sizeof(RowHeader) == 24, "RowHeader is part of the row encoding");

class RowLayout {
 public:
  RowLayout(int dim, int state_floats_per_weight)
      : dim_(dim),
        state_floats_(static_cast<size_t>(state_floats_per_weight) * dim),
        row_bytes_((sizeof(RowHeader) + sizeof(float) * (dim + state_floats_) + 7) / 8 * 8) {}

  int dim() const { return dim_; }
  size_t state_floats() const { return state_floats_; }
  // Bytes of one encoded row, a multiple of 8.
  size_t row_bytes() const { return row_bytes_; }

  // Accessors into a row of row_bytes() bytes, 8-byte aligned.
  static RowHeader* header(uint8_t* row) { return reinterpret_cast<RowHeader*>(row); }
  static const RowHeader* header(const uint8_t* row) {
    return reinterpret_cast<const RowHeader*>(row);
  }
  static float* weights(uint8_t* row) {
    return reinterpret_cast<float*>(row + sizeof(RowHeader));
  }
  static const float* weights(const uint8_t* row) {
    return reinterpret_cast<const float*>(row + sizeof(RowHeader));
  }
  float* state(uint8_t* row) const { return weights(row) + dim_; }
  const float* state(const uint8_t* row) const { return weights(row) + dim_; }

 private:
  int dim_;
  size_t state_floats_;
  size_t row_bytes_;
};

}  // namespace dips

#endif  // DIPS_PS_ROW_LAYOUT_H_
