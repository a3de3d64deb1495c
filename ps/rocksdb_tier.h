// RocksTier: the disk tier of one parameter-server shard — one RocksDB
// instance, one column family per table. The tiered table (ps/tiered_table.h)
// keeps hot rows in memory and the rest here; this class only stores rows.
//
// Keys on disk are the 8 big-endian bytes of Mix64(key): rows are ordered by
// hash, so the rows of one table stripe (a range of hash prefixes) are one
// contiguous key range that can be scanned alone. Values are rows encoded
// exactly as ps/row_layout.h.
//
// RocksDB settings (docs/tables.md): point lookups through a sized LRU block
// cache holding partitioned index and Bloom-filter blocks (so their memory
// is bounded by the cache), hash-assisted data-block lookup, no compression
// (rows are floats). The write-ahead log is off for row writes: the tier is
// a spill area, not durable state — rows still in a table's memory are lost
// in a crash whatever the WAL does, so a consistent state can only come from
// a checkpoint. A crash leaves RocksDB at its last flushed state: it reopens
// cleanly, without corruption, but without the rows written after that.
//
// Lifecycle: Open either discards what the directory holds (the default: a
// new run must not pick up stale spilled rows) or keeps it. The destructor
// flushes the memtables and then records a clean shutdown; the next Open
// with keep_existing logs whether the previous process shut down cleanly
// and, if not, verifies every block checksum before serving.
//
// Thread-safety: all methods may be called concurrently.
#ifndef DIPS_PS_ROCKSDB_TIER_H_
#define DIPS_PS_ROCKSDB_TIER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "common/status.h"
#include "common/thread_annotations.h"

namespace dips {

struct RocksTierOptions {
  std::string dir;  // required; created if missing
  // false: delete whatever the directory holds at Open (stale spilled rows
  // of an earlier run). true: keep and serve it (restart tests, checkpoint
  // tooling).
  bool keep_existing = false;
  // With keep_existing: the directory was just made from a checkpoint whose
  // files the caller verified (SeedFromCheckpoint after VerifyCheckpoint),
  // so it is not checked as a crashed tier would be.
  bool seeded_from_checkpoint = false;
  uint64_t block_cache_bytes = uint64_t{512} << 20;  // data, index and filter blocks
  uint64_t write_buffer_bytes = uint64_t{64} << 20;  // one memtable, per column family
  int max_write_buffers = 3;  // memtables per column family (active + flushing)
  int bloom_bits_per_key = 10;  // ~1% false positives on a key that is absent
  int background_jobs = 2;      // flush + compaction threads
};

// InvalidArgument for an empty dir or out-of-range sizes.
Status ValidateRocksTierOptions(const RocksTierOptions& options);

class RocksTier {
 public:
  using Column = rocksdb::ColumnFamilyHandle;

  // Errors: InvalidArgument for bad options; IOError when RocksDB cannot
  // open the directory (e.g. another process holds it); Corruption when a
  // reopened directory fails its checksum verification.
  static StatusOr<std::shared_ptr<RocksTier>> Open(const RocksTierOptions& options);
  ~RocksTier();

  RocksTier(const RocksTier&) = delete;
  RocksTier& operator=(const RocksTier&) = delete;

  // The column family of table `name`, created if absent. Owned by the tier.
  StatusOr<Column*> OpenColumn(const std::string& name);

  // Reads rows by hash (n hashes, ascending). found[i] tells whether the row
  // exists; if so its row_bytes bytes are copied to rows[i * row_bytes].
  // Corruption for a stored value of another size.
  Status MultiGet(Column* column, const uint64_t* hashes, size_t n, size_t row_bytes,
                  uint8_t* rows, bool* found) const;
  static void Put(rocksdb::WriteBatch* batch, Column* column, uint64_t hash, const uint8_t* row,
                  size_t row_bytes);
  static void Delete(rocksdb::WriteBatch* batch, Column* column, uint64_t hash);
  // Applies the batch atomically (without WAL; see above).
  Status Write(rocksdb::WriteBatch* batch);

  // fn(key, value) for every row whose hash is in [first_hash, last_hash],
  // in hash order, without filling the block cache. key is the table key
  // (the hash inverted).
  Status ForEachInRange(Column* column, uint64_t first_hash, uint64_t last_hash,
                        const std::function<void(uint64_t key, const rocksdb::Slice& value)>&
                            fn) const;

  // Writes the memtables to SST files (waits).
  Status Flush();
  // Reads every block and checks its checksum.
  Status VerifyChecksums();
  // Bytes of live SST files plus memtables of `column`.
  uint64_t DiskBytes(Column* column) const;

  // Writes a RocksDB checkpoint of every column family into `dir` (which
  // must not exist; its parent must): memtables are flushed first, SST files
  // are hard-linked when dir is on the same file system (so a checkpoint
  // costs only the files written since the previous one) and copied
  // otherwise. The checkpoint carries a consistent-state marker, so a tier
  // opened from it (SeedFromCheckpoint) is not taken for a crashed one. The
  // caller quiesces writes (the table flushes its dirty rows first).
  Status CreateCheckpoint(const std::string& dir);

  // Opens a checkpoint (or a tier directory no process has open) read-only,
  // without writing anything into it (no LOG file, no marker change).
  static StatusOr<std::shared_ptr<RocksTier>> OpenReadOnly(const std::string& dir);
  // The column family of table `name`; NotFound if the tier has none.
  StatusOr<Column*> FindColumn(const std::string& name) const;

  // Makes `live_dir` a copy of the checkpoint at `checkpoint_dir` that Open
  // with keep_existing can serve: whatever live_dir held is deleted, SST
  // files (immutable) are hard-linked when possible, the other files copied
  // (RocksDB rewrites those). The checkpoint itself is never modified.
  static Status SeedFromCheckpoint(const std::string& checkpoint_dir,
                                   const std::string& live_dir);

  // Whether Open found rows left by a process that did not shut down cleanly.
  bool recovered_unclean() const { return recovered_unclean_; }
  // Called when a table could not write its dirty rows at shutdown: the
  // destructor then records no clean shutdown.
  void MarkUnclean() { unclean_.store(true); }
  const std::string& dir() const { return dir_; }

 private:
  RocksTier() = default;
  // Keeps the column family handles of a just-opened database, by name.
  void TakeHandles(const std::vector<std::string>& names, const std::vector<Column*>& handles);

  std::string dir_;
  std::unique_ptr<rocksdb::DB> db_;
  Column* default_column_ = nullptr;  // holds the clean-shutdown marker
  rocksdb::ColumnFamilyOptions column_options_;
  bool recovered_unclean_ = false;
  bool read_only_ = false;
  std::atomic<bool> unclean_{false};
  mutable std::mutex mu_;
  // Every open column family except the default one, by name.
  std::map<std::string, Column*> columns_ GUARDED_BY(mu_);
};

// Inverse of Mix64 (common/feature_key.h): disk keys store the hash only.
uint64_t UnMix64(uint64_t hash);

}  // namespace dips

#endif  // DIPS_PS_ROCKSDB_TIER_H_
