// RowStore: the rows of one lock stripe. An open-addressing index (linear
// probing on Mix64(key)) maps a key to a slot in an arena of fixed-size rows
// allocated in chunks, so creating a row allocates nothing on its own and a
// row never moves once created (pointers stay valid until the store dies).
//
// Not thread-safe: the memory table guards each store with its stripe mutex.
#ifndef DIPS_PS_ROW_STORE_H_
#define DIPS_PS_ROW_STORE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace dips {

class RowStore {
 public:
  // Most rows one store can hold (slots are 32-bit).
  static constexpr size_t kMaxRows = 0xFFFFFFFEu;
  // Rows per arena chunk: small enough that a table with many nearly empty
  // stripes stays small, large enough that chunk allocation is rare.
  static constexpr size_t kRowsPerChunk = 256;

  // row_bytes: a positive multiple of 8 (RowLayout::row_bytes()).
  explicit RowStore(size_t row_bytes);

  RowStore(const RowStore&) = delete;
  RowStore& operator=(const RowStore&) = delete;

  // The row of `key`, or nullptr. `hash` must be Mix64(key).
  uint8_t* Find(uint64_t key, uint64_t hash) const;

  // Adds a zero-filled row for `key`, which must be absent, and returns it;
  // nullptr when the store already holds kMaxRows rows.
  uint8_t* Insert(uint64_t key, uint64_t hash);

  size_t size() const { return size_; }
  // Memory held: arena chunks plus the index.
  size_t bytes() const;

  // fn(key, row) for every row, in index order.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (const Entry& e : index_) {
      if (e.slot != kEmptySlot) fn(e.key, RowAt(e.slot));
    }
  }

 private:
  struct Entry {
    uint64_t key;
    uint32_t slot;
  };
  static constexpr uint32_t kEmptySlot = 0xFFFFFFFFu;

  uint8_t* RowAt(uint32_t slot) const {
    return reinterpret_cast<uint8_t*>(chunks_[slot / kRowsPerChunk].get()) +
           (slot % kRowsPerChunk) * row_bytes_;
  }
  // Doubles the index and reinserts every entry.
  void Grow();

  const size_t row_bytes_;
  size_t size_ = 0;
  size_t mask_;               // index_.size() - 1; the size is a power of two
  std::vector<Entry> index_;  // load factor kept at or below 3/4
  // uint64_t storage keeps every row 8-byte aligned (row_bytes_ % 8 == 0).
  std::vector<std::unique_ptr<uint64_t[]>> chunks_;
};

}  // namespace dips

#endif  // DIPS_PS_ROW_STORE_H_
