#include "ps/row_store.h"

#include <cstring>

#include <glog/logging.h>

#include "common/feature_key.h"

namespace dips {
namespace {

constexpr size_t kInitialIndexSize = 16;

}  // namespace

RowStore::RowStore(size_t row_bytes)
    : row_bytes_(row_bytes),
      mask_(kInitialIndexSize - 1),
      index_(kInitialIndexSize, Entry{0, kEmptySlot}) {
  CHECK(row_bytes > 0 && row_bytes % 8 == 0) << "row_bytes " << row_bytes;
}

uint8_t* RowStore::Find(uint64_t key, uint64_t hash) const {
  // The index always has an empty entry (load <= 3/4), so probing ends.
  for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
    const Entry& e = index_[i];
    if (e.slot == kEmptySlot) return nullptr;
    if (e.key == key) return RowAt(e.slot);
  }
}

uint8_t* RowStore::Insert(uint64_t key, uint64_t hash) {
  if (size_ >= kMaxRows) return nullptr;
  if ((size_ + 1) * 4 > index_.size() * 3) Grow();
  const uint32_t slot = static_cast<uint32_t>(size_);
  if (slot % kRowsPerChunk == 0) {
    chunks_.emplace_back(new uint64_t[kRowsPerChunk * row_bytes_ / 8]);
  }
  size_t i = hash & mask_;
  while (index_[i].slot != kEmptySlot) {
    DCHECK_NE(index_[i].key, key) << "Insert of a key already present";
    i = (i + 1) & mask_;
  }
  index_[i] = Entry{key, slot};
  ++size_;
  uint8_t* row = RowAt(slot);
  std::memset(row, 0, row_bytes_);
  return row;
}

size_t RowStore::bytes() const {
  return chunks_.size() * kRowsPerChunk * row_bytes_ + index_.size() * sizeof(Entry);
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

}  // namespace dips
