// TieredSparseTable's whole-table passes: writing dirty rows back, the
// RocksDB checkpoint, stats, visiting every row and shrinking. The per-call
// paths (Pull, Push, ImportRows and eviction) are in tiered_table.cc.
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <glog/logging.h>

#include "common/feature_key.h"
#include "ps/tiered_table.h"

namespace dips {

Status TieredSparseTable::WriteBackDirty(Stripe* stripe) {
  RowStore& store = stripe->store;
  rocksdb::WriteBatch writes;
  std::vector<uint32_t> slots;
  for (size_t pos = 0; pos < store.index_positions(); ++pos) {
    uint64_t key;
    uint32_t slot;
    if (!store.EntryAt(pos, &key, &slot) || !(stripe->flags[slot] & kDirty)) continue;
    RocksTier::Put(&writes, column_, Mix64(key), store.RowAt(slot), layout_.row_bytes());
    slots.push_back(slot);
  }
  if (slots.empty()) return Status::OK();
  RETURN_IF_ERROR(tier_->Write(&writes));
  for (uint32_t slot : slots) {
    uint8_t& flags = stripe->flags[slot];
    if (!(flags & kOnDisk)) {
      --stripe->memory_only;
      ++stripe->disk_rows;
    }
    flags = (flags & ~kDirty) | kOnDisk;
  }
  return Status::OK();
}

StatusOr<uint64_t> TieredSparseTable::WriteBackAll() {
  uint64_t rows = 0;
  for (auto& stripe : stripes_) {
    std::lock_guard<std::mutex> lock(stripe->mu);
    RETURN_IF_ERROR(WriteBackDirty(stripe.get()));
    rows += stripe->disk_rows;  // every row has a disk copy now
  }
  return rows;
}

Status TieredSparseTable::FlushToDisk() {
  RETURN_IF_ERROR(WriteBackAll().status());
  return tier_->Flush();
}

StatusOr<uint64_t> TieredSparseTable::CheckpointDiskTier(const std::string& dir) {
  ASSIGN_OR_RETURN(uint64_t rows, WriteBackAll());
  RETURN_IF_ERROR(tier_->CreateCheckpoint(dir));
  return rows;
}

SparseTableStats TieredSparseTable::Stats() const {
  SparseTableStats stats;
  uint64_t memory_only = 0;
  for (const auto& stripe : stripes_) {
    std::lock_guard<std::mutex> lock(stripe->mu);
    stats.rows_in_memory += stripe->store.size();
    stats.bytes += stripe->store.bytes() + stripe->flags.size() + stripe->sketch.bytes();
    stats.rows_on_disk += stripe->disk_rows;
    memory_only += stripe->memory_only;
  }
  stats.rows = memory_only + stats.rows_on_disk;
  stats.disk_bytes = tier_->DiskBytes(column_);
  counters_.Fill(&stats);
  stats.disk_loads = disk_loads_.load(std::memory_order_relaxed);
  stats.spills = spills_.load(std::memory_order_relaxed);
  return stats;
}

void TieredSparseTable::ForEachRow(const std::function<void(const RowView&)>& fn) const {
  const size_t row_bytes = layout_.row_bytes();
  std::vector<uint64_t> aligned(row_bytes / 8);  // disk values may be misaligned
  uint8_t* buffer = reinterpret_cast<uint8_t*>(aligned.data());
  for (size_t s = 0; s < stripes_.size(); ++s) {
    const Stripe& stripe = *stripes_[s];
    std::lock_guard<std::mutex> lock(stripe.mu);
    stripe.store.ForEach([&](uint64_t key, const uint8_t* row) {
      fn(table_internal::ViewOf(layout_, key, row));
    });
    if (stripe.disk_rows == 0) continue;
    // Disk rows with a memory copy were visited above (memory is newer).
    const Status status = tier_->ForEachInRange(
        column_, FirstHash(s), LastHash(s), [&](uint64_t key, const rocksdb::Slice& value) {
          if (stripe.store.FindSlot(key, Mix64(key)) != RowStore::kNoSlot) return;
          if (value.size() != row_bytes) {
            LOG(ERROR) << "tiered table " << options_.column_family << ": row of key " << key
                       << " has " << value.size() << " bytes on disk; skipped";
            return;
          }
          std::memcpy(buffer, value.data(), row_bytes);
          fn(table_internal::ViewOf(layout_, key, buffer));
        });
    if (!status.ok()) {
      LOG(ERROR) << "tiered table " << options_.column_family << ": stripe " << s
                 << " not fully visited: " << status.ToString();
    }
  }
}

StatusOr<ShrinkResult> TieredSparseTable::Shrink(const ShrinkOptions& options) {
  const table_internal::ShrinkRule rule(options,
                                        counters_.latest_step.load(std::memory_order_relaxed));
  ShrinkResult result;
  Status status;
  std::vector<std::pair<uint64_t, uint32_t>> doomed;
  for (size_t s = 0; s < stripes_.size() && status.ok(); ++s) {
    Stripe& stripe = *stripes_[s];
    std::lock_guard<std::mutex> lock(stripe.mu);
    RowStore& store = stripe.store;
    doomed.clear();
    rocksdb::WriteBatch deletes;
    for (size_t pos = 0; pos < store.index_positions(); ++pos) {
      uint64_t key;
      uint32_t slot;
      if (!store.EntryAt(pos, &key, &slot)) continue;
      ++result.rows_scanned;
      if (!rule.Removes(*RowLayout::header(store.RowAt(slot)))) continue;
      doomed.emplace_back(key, slot);
      if (stripe.flags[slot] & kOnDisk) RocksTier::Delete(&deletes, column_, Mix64(key));
    }
    uint64_t doomed_on_disk_only = 0;
    if (stripe.disk_rows > 0) {
      Status bad_row;
      status = tier_->ForEachInRange(
          column_, FirstHash(s), LastHash(s), [&](uint64_t key, const rocksdb::Slice& value) {
            const uint64_t hash = Mix64(key);
            if (store.FindSlot(key, hash) != RowStore::kNoSlot) return;
            ++result.rows_scanned;
            RowHeader header;
            if (value.size() != layout_.row_bytes()) {
              bad_row = CorruptionError("tiered table: row of key " + std::to_string(key) +
                                        " has " + std::to_string(value.size()) + " bytes");
              return;
            }
            std::memcpy(&header, value.data(), sizeof(header));
            if (!rule.Removes(header)) return;
            RocksTier::Delete(&deletes, column_, hash);
            ++doomed_on_disk_only;
          });
      if (status.ok()) status = bad_row;
    }
    if (status.ok() && deletes.Count() > 0) status = tier_->Write(&deletes);
    if (!status.ok()) break;  // nothing of this stripe removed
    for (const auto& [key, slot] : doomed) {
      if (stripe.flags[slot] & kOnDisk) {
        --stripe.disk_rows;
      } else {
        --stripe.memory_only;
      }
      CHECK(store.Erase(key, Mix64(key)));
      stripe.flags[slot] = 0;
    }
    stripe.disk_rows -= doomed_on_disk_only;
    result.rows_removed += doomed.size() + doomed_on_disk_only;
    stripe.sketch.Halve();
  }
  counters_.evictions.fetch_add(result.rows_removed, std::memory_order_relaxed);
  if (!status.ok()) return status;
  counters_.shrink_passes.fetch_add(1, std::memory_order_relaxed);
  return result;
}

}  // namespace dips
