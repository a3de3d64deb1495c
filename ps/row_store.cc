#include "ps/row_store.h"

#include <cstring>

#include <glog/logging.h>

#include "common/feature_key.h"

namespace dips {
namespace {

constexpr size_t kInitialIndexSize = 16;
constexpr size_t kNoPosition = ~size_t{0};

// Index size after `rows` inserts: doubled whenever (size + 1) * 4 would
// exceed 3 * index size.
size_t IndexSizeFor(size_t rows) {
  size_t index = kInitialIndexSize;
  while (rows * 4 > index * 3) index *= 2;
  return index;
}

}  // namespace

RowStore::RowStore(size_t row_bytes, size_t rows_per_chunk)
    : row_bytes_(row_bytes),
      rows_per_chunk_(rows_per_chunk),
      mask_(kInitialIndexSize - 1),
      index_(kInitialIndexSize, Entry{0, kEmptySlot}) {
  CHECK(row_bytes > 0 && row_bytes % 8 == 0) << "row_bytes " << row_bytes;
  CHECK_GE(rows_per_chunk, 1u);
}

size_t RowStore::Position(uint64_t key, uint64_t hash) const {
  // The index always has an empty entry (load <= 3/4), so probing ends.
  for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
    const Entry& e = index_[i];
    if (e.slot == kEmptySlot) return kNoPosition;
    if (e.key == key) return i;
  }
}

uint32_t RowStore::FindSlot(uint64_t key, uint64_t hash) const {
  const size_t pos = Position(key, hash);
  return pos == kNoPosition ? kNoSlot : index_[pos].slot;
}

uint8_t* RowStore::Find(uint64_t key, uint64_t hash) const {
  const uint32_t slot = FindSlot(key, hash);
  return slot == kNoSlot ? nullptr : RowAt(slot);
}

uint32_t RowStore::InsertSlot(uint64_t key, uint64_t hash) {
  if (size_ >= kMaxRows) return kNoSlot;
  if ((size_ + 1) * 4 > index_.size() * 3) Grow();
  uint32_t slot;
  if (free_head_ != kNoSlot) {
    slot = free_head_;
    std::memcpy(&free_head_, RowAt(slot), sizeof(free_head_));
  } else {
    slot = static_cast<uint32_t>(slot_limit_++);
    if (slot % rows_per_chunk_ == 0) {
      chunks_.emplace_back(new uint64_t[rows_per_chunk_ * row_bytes_ / 8]);
    }
  }
  size_t i = hash & mask_;
  while (index_[i].slot != kEmptySlot) {
    DCHECK_NE(index_[i].key, key) << "Insert of a key already present";
    i = (i + 1) & mask_;
  }
  index_[i] = Entry{key, slot};
  ++size_;
  std::memset(RowAt(slot), 0, row_bytes_);
  return slot;
}

uint8_t* RowStore::Insert(uint64_t key, uint64_t hash) {
  const uint32_t slot = InsertSlot(key, hash);
  return slot == kNoSlot ? nullptr : RowAt(slot);
}

bool RowStore::Erase(uint64_t key, uint64_t hash) {
  size_t hole = Position(key, hash);
  if (hole == kNoPosition) return false;
  const uint32_t slot = index_[hole].slot;
  std::memcpy(RowAt(slot), &free_head_, sizeof(free_head_));
  free_head_ = slot;
  // Backward shift: walk the run after the hole and move back every entry
  // whose home position is not in the cyclic range (hole, j], so each entry
  // stays reachable from its home without a tombstone.
  for (size_t j = (hole + 1) & mask_; index_[j].slot != kEmptySlot; j = (j + 1) & mask_) {
    const size_t home = Mix64(index_[j].key) & mask_;
    const bool home_in_gap = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
    if (!home_in_gap) {
      index_[hole] = index_[j];
      hole = j;
    }
  }
  index_[hole] = Entry{0, kEmptySlot};
  --size_;
  return true;
}

size_t RowStore::bytes() const {
  return chunks_.size() * rows_per_chunk_ * row_bytes_ + index_.size() * sizeof(Entry);
}

void RowStore::Grow() {
  std::vector<Entry> old;
  old.swap(index_);
  index_.assign(old.size() * 2, Entry{0, kEmptySlot});
  mask_ = index_.size() - 1;
  for (const Entry& e : old) {
    if (e.slot == kEmptySlot) continue;
    // Mix64 is cheap next to the cache misses of a rehash; storing the hash
    // would add 8 bytes to every entry.
    size_t i = Mix64(e.key) & mask_;
    while (index_[i].slot != kEmptySlot) i = (i + 1) & mask_;
    index_[i] = e;
  }
}

size_t RowStoreBytesFor(size_t rows, size_t row_bytes, size_t rows_per_chunk) {
  const size_t chunks = (rows + rows_per_chunk - 1) / rows_per_chunk;
  return chunks * rows_per_chunk * row_bytes + IndexSizeFor(rows) * RowStore::kIndexEntryBytes;
}

}  // namespace dips
