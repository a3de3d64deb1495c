// RowStore: the rows of one lock stripe. An open-addressing index (linear
// probing on Mix64(key)) maps a key to a slot in an arena of fixed-size rows
// allocated in chunks, so creating a row allocates nothing on its own and a
// row never moves while it is stored (pointers stay valid until the row is
// erased or the store dies).
//
// Erase frees a row's slot for reuse (a free list threaded through the freed
// rows themselves, so it costs no memory) and removes the index entry by
// backward shifting, so the index never holds tombstones and probes stay as
// short as if the key had never been inserted.
//
// Not thread-safe: the tables guard each store with its stripe mutex.
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
  // Default rows per arena chunk: small enough that a table with many nearly
  // empty stripes stays small, large enough that chunk allocation is rare.
  static constexpr size_t kRowsPerChunk = 256;
  static constexpr uint32_t kNoSlot = 0xFFFFFFFFu;
  // Bytes of one index entry (the index holds at most 3/4 live entries).
  static constexpr size_t kIndexEntryBytes = 16;

  // row_bytes: a positive multiple of 8 (RowLayout::row_bytes());
  // rows_per_chunk >= 1.
  explicit RowStore(size_t row_bytes, size_t rows_per_chunk = kRowsPerChunk);

  RowStore(const RowStore&) = delete;
  RowStore& operator=(const RowStore&) = delete;

  // The row (or slot) of `key`; nullptr (kNoSlot) when absent. `hash` must
  // be Mix64(key).
  uint8_t* Find(uint64_t key, uint64_t hash) const;
  uint32_t FindSlot(uint64_t key, uint64_t hash) const;

  // Adds a zero-filled row for `key`, which must be absent, and returns it
  // (or its slot); nullptr (kNoSlot) when the store already holds kMaxRows.
  uint8_t* Insert(uint64_t key, uint64_t hash);
  uint32_t InsertSlot(uint64_t key, uint64_t hash);

  // Removes the row of `key`; false when absent. Its slot may be handed out
  // again by the next insert.
  bool Erase(uint64_t key, uint64_t hash);

  // Visits keys[order[j]] for j = 0 .. m-1, in that order, as
  // visit(order[j], slot) with the key's slot at the moment of the visit
  // (kNoSlot when absent). visit may insert rows into this store: a key that
  // an earlier visit inserted is found again. Index entries and then rows are
  // prefetched a few keys ahead, so the two dependent cache misses of one key
  // (its index entry, then its row) overlap with the other keys' work instead
  // of stalling each in turn. `row_prefix_bytes`: how much of each row visit
  // reads. `slots` is scratch space.
  template <typename Visit>
  void VisitBatch(const uint64_t* keys, const uint64_t* hashes, const uint32_t* order, size_t m,
                  size_t row_prefix_bytes, std::vector<uint32_t>* slots, Visit&& visit) const;

  uint8_t* RowAt(uint32_t slot) const {
    return reinterpret_cast<uint8_t*>(chunks_[slot / rows_per_chunk_].get()) +
           (slot % rows_per_chunk_) * row_bytes_;
  }

  size_t size() const { return size_; }
  // One more than the highest slot ever handed out: per-slot side tables
  // (the tiered table's flags) need this many entries.
  size_t slot_limit() const { return slot_limit_; }
  // Memory held: arena chunks plus the index.
  size_t bytes() const;

  // Index positions, for a sweep that visits every row (the tiered table's
  // CLOCK hand). EntryAt is false for an empty position. Erase may move a
  // later entry into the erased position, and Insert may regrow the index,
  // so a sweep across those sees some rows twice or not at all.
  size_t index_positions() const { return index_.size(); }
  bool EntryAt(size_t pos, uint64_t* key, uint32_t* slot) const {
    const Entry& e = index_[pos];
    if (e.slot == kEmptySlot) return false;
    *key = e.key;
    *slot = e.slot;
    return true;
  }

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
  static_assert(sizeof(Entry) == kIndexEntryBytes, "index entry size is part of the budget");
  static constexpr uint32_t kEmptySlot = 0xFFFFFFFFu;

  // Keys looked up ahead of the one visited; about as many misses as a core
  // keeps in flight.
  static constexpr size_t kPrefetchDistance = 8;

  size_t Position(uint64_t key, uint64_t hash) const;  // index position or kNoPosition
  void PrefetchRow(uint32_t slot, size_t bytes) const {
    constexpr uintptr_t kLine = 64;
    const uintptr_t first = reinterpret_cast<uintptr_t>(RowAt(slot));
    for (uintptr_t line = first & ~(kLine - 1); line < first + bytes; line += kLine) {
      __builtin_prefetch(reinterpret_cast<const void*>(line));
    }
  }
  // Doubles the index and reinserts every entry.
  void Grow();

  const size_t row_bytes_;
  const size_t rows_per_chunk_;
  size_t size_ = 0;
  size_t slot_limit_ = 0;
  uint32_t free_head_ = kNoSlot;  // first freed slot; each freed row holds the next
  size_t mask_;               // index_.size() - 1; the size is a power of two
  std::vector<Entry> index_;  // load factor kept at or below 3/4
  // uint64_t storage keeps every row 8-byte aligned (row_bytes_ % 8 == 0).
  std::vector<std::unique_ptr<uint64_t[]>> chunks_;
};

template <typename Visit>
void RowStore::VisitBatch(const uint64_t* keys, const uint64_t* hashes, const uint32_t* order,
                          size_t m, size_t row_prefix_bytes, std::vector<uint32_t>* slots,
                          Visit&& visit) const {
  slots->resize(m);
  for (size_t j = 0; j < m; ++j) {
    if (j + kPrefetchDistance < m) {
      __builtin_prefetch(&index_[hashes[order[j + kPrefetchDistance]] & mask_]);
    }
    (*slots)[j] = FindSlot(keys[order[j]], hashes[order[j]]);
  }
  for (size_t j = 0; j < m; ++j) {
    if (j + kPrefetchDistance < m && (*slots)[j + kPrefetchDistance] != kNoSlot) {
      PrefetchRow((*slots)[j + kPrefetchDistance], row_prefix_bytes);
    }
    const uint32_t i = order[j];
    uint32_t slot = (*slots)[j];
    // Absent at lookup time; an earlier visit may have inserted it since.
    if (slot == kNoSlot) slot = FindSlot(keys[i], hashes[i]);
    visit(i, slot);
  }
}

// Bytes a RowStore holds when it stores `rows` rows of `row_bytes` with
// `rows_per_chunk` rows per chunk and its index grown as Insert grows it.
size_t RowStoreBytesFor(size_t rows, size_t row_bytes, size_t rows_per_chunk);

}  // namespace dips

#endif  // DIPS_PS_ROW_STORE_H_
