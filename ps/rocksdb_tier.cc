#include "ps/rocksdb_tier.h"

#include <cstring>
#include <filesystem>
#include <system_error>
#include <vector>

#include <glog/logging.h>
#include <rocksdb/cache.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>

namespace dips {
namespace {

// In the default column family; present only after a clean shutdown.
constexpr char kCleanShutdownKey[] = "dips.clean_shutdown";

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::OK();
  const std::string message = what + ": " + s.ToString();
  if (s.IsCorruption()) return CorruptionError(message);
  if (s.IsInvalidArgument()) return InvalidArgumentError(message);
  return IOError(message);
}

void EncodeHash(uint64_t hash, char* out) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(hash >> (56 - 8 * i));
}

uint64_t DecodeHash(const char* in) {
  uint64_t hash = 0;
  for (int i = 0; i < 8; ++i) hash = (hash << 8) | static_cast<uint8_t>(in[i]);
  return hash;
}

// Read-only opens must not write a LOG file into a checkpoint.
class DiscardLogger : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logv;
  void Logv(const char* /*format*/, va_list /*ap*/) override {}
};

bool IsSstFile(const std::filesystem::path& path) { return path.extension() == ".sst"; }

rocksdb::ColumnFamilyOptions ColumnOptions(const RocksTierOptions& o) {
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(o.block_cache_bytes);
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(o.bloom_bits_per_key));
  table.whole_key_filtering = true;
  // Index and filter blocks live in the block cache, partitioned so that
  // only the parts in use are loaded: their memory is bounded by the cache
  // size instead of growing with the row count (a billion keys' filters are
  // ~1.2 GB). The top-level partitions and L0's blocks stay pinned.
  table.index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
  table.partition_filters = true;
  table.cache_index_and_filter_blocks = true;
  table.cache_index_and_filter_blocks_with_high_priority = true;
  table.pin_top_level_index_and_filter = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  // A hash index inside each data block saves the binary search of a
  // point lookup.
  table.data_block_index_type = rocksdb::BlockBasedTableOptions::kDataBlockBinaryAndHash;
  table.block_size = 4096;

  rocksdb::ColumnFamilyOptions c;
  c.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  c.write_buffer_size = o.write_buffer_bytes;
  c.max_write_buffer_number = o.max_write_buffers;
  // Rows are mostly float noise: compression would cost CPU on every spill
  // and load for little space.
  c.compression = rocksdb::kNoCompression;
  // Most misses of a training batch are new keys, absent everywhere: a Bloom
  // filter over each memtable spares them the skiplist searches, which
  // otherwise dominate the cost of inserting rows.
  c.memtable_whole_key_filtering = true;
  c.memtable_prefix_bloom_size_ratio = 0.05;
  c.level_compaction_dynamic_level_bytes = true;
  c.target_file_size_base = 64 << 20;
  c.max_bytes_for_level_base = 4 * o.write_buffer_bytes;
  return c;
}

}  // namespace

uint64_t UnMix64(uint64_t x) {
  // Each step of Mix64 inverted in reverse order: x ^= x >> s is undone by
  // x ^= x >> s ^ x >> 2s ^ ...; the multipliers by their inverses mod 2^64.
  x ^= (x >> 31) ^ (x >> 62);
  x *= 0x319642b2d24d8ec3ULL;
  x ^= (x >> 27) ^ (x >> 54);
  x *= 0x96de1b173f119089ULL;
  x ^= (x >> 30) ^ (x >> 60);
  return x;
}

Status ValidateRocksTierOptions(const RocksTierOptions& o) {
  if (o.dir.empty()) return InvalidArgumentError("RocksDB tier: dir is required");
  if (o.block_cache_bytes < (1u << 20)) {
    return InvalidArgumentError("RocksDB tier: block_cache_bytes must be >= 1 MiB");
  }
  if (o.write_buffer_bytes < (64u << 10)) {
    return InvalidArgumentError("RocksDB tier: write_buffer_bytes must be >= 64 KiB");
  }
  if (o.max_write_buffers < 2 || o.bloom_bits_per_key < 1 || o.bloom_bits_per_key > 40 ||
      o.background_jobs < 1) {
    return InvalidArgumentError("RocksDB tier: max_write_buffers >= 2, bloom_bits_per_key in "
                                "[1, 40] and background_jobs >= 1 are required");
  }
  return Status::OK();
}

StatusOr<std::shared_ptr<RocksTier>> RocksTier::Open(const RocksTierOptions& options) {
  RETURN_IF_ERROR(ValidateRocksTierOptions(options));
  std::shared_ptr<RocksTier> tier(new RocksTier());
  tier->dir_ = options.dir;
  tier->column_options_ = ColumnOptions(options);

  // RocksDB creates the directory itself but not its parents (a job's
  // --table_dir/shard-N).
  std::error_code error;
  std::filesystem::create_directories(options.dir, error);
  if (error) {
    return IOError("cannot create RocksDB tier directory " + options.dir + ": " +
                   error.message());
  }
  rocksdb::Options db_options(rocksdb::DBOptions(), tier->column_options_);
  db_options.create_if_missing = true;
  db_options.paranoid_checks = true;
  db_options.max_background_jobs = options.background_jobs;
  db_options.bytes_per_sync = 1 << 20;
  db_options.keep_log_file_num = 3;

  std::vector<std::string> names;
  const bool existed =
      rocksdb::DB::ListColumnFamilies(db_options, options.dir, &names).ok();
  if (existed && !options.keep_existing) {
    LOG(INFO) << "RocksDB tier " << options.dir
              << ": discarding the rows of an earlier run (keep_existing is off)";
    RETURN_IF_ERROR(FromRocks(rocksdb::DestroyDB(options.dir, db_options), "DestroyDB"));
    names.clear();
  }
  if (names.empty()) names.push_back(rocksdb::kDefaultColumnFamilyName);
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : names) {
    descriptors.emplace_back(name, tier->column_options_);
  }
  std::vector<Column*> handles;
  rocksdb::DB* db = nullptr;
  RETURN_IF_ERROR(FromRocks(
      rocksdb::DB::Open(db_options, options.dir, descriptors, &handles, &db),
      "opening RocksDB tier " + options.dir));
  tier->db_.reset(db);
  tier->TakeHandles(names, handles);
  if (existed && options.keep_existing && options.seeded_from_checkpoint) {
    LOG(INFO) << "RocksDB tier " << options.dir << ": opened from a verified checkpoint";
  } else if (existed && options.keep_existing) {
    std::string marker;
    const rocksdb::Status s = db->Get(rocksdb::ReadOptions(), kCleanShutdownKey, &marker);
    if (s.ok()) {
      LOG(INFO) << "RocksDB tier " << options.dir << ": reopened after a clean shutdown";
    } else if (s.IsNotFound()) {
      tier->recovered_unclean_ = true;
      RETURN_IF_ERROR(FromRocks(db->VerifyChecksum(),
                                "verifying RocksDB tier " + options.dir +
                                    " after an unclean shutdown"));
      LOG(WARNING) << "RocksDB tier " << options.dir
                   << ": reopened after an UNCLEAN shutdown (the process was killed or "
                      "crashed); RocksDB recovered to its last flushed state and every block "
                      "checksum verified; rows spilled after the last memtable flush and rows "
                      "that were only in memory are not in it (restore a checkpoint for a "
                      "consistent table)";
    } else {
      return FromRocks(s, "reading the clean-shutdown marker");
    }
    // From now on a crash must read as unclean: drop the marker durably.
    rocksdb::WriteOptions durable;
    durable.sync = true;
    RETURN_IF_ERROR(FromRocks(db->Delete(durable, kCleanShutdownKey), "clearing the marker"));
  }
  return tier;
}

void RocksTier::TakeHandles(const std::vector<std::string>& names,
                            const std::vector<Column*>& handles) {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < handles.size(); ++i) {
    if (names[i] == rocksdb::kDefaultColumnFamilyName) {
      default_column_ = handles[i];
    } else {
      columns_[names[i]] = handles[i];
    }
  }
}

RocksTier::~RocksTier() {
  if (db_ == nullptr) return;
  Status status = read_only_ ? Status::OK() : Flush();
  if (status.ok() && !unclean_.load() && !read_only_) {
    rocksdb::WriteOptions durable;
    durable.sync = true;
    status = FromRocks(db_->Put(durable, kCleanShutdownKey, "1"), "writing the marker");
  }
  if (!status.ok()) {
    LOG(ERROR) << "RocksDB tier " << dir_ << ": shutdown not clean: " << status.ToString();
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [name, handle] : columns_) {
    const rocksdb::Status s = db_->DestroyColumnFamilyHandle(handle);
    if (!s.ok()) LOG(ERROR) << "closing column family " << name << ": " << s.ToString();
  }
  columns_.clear();
  if (default_column_ != nullptr) db_->DestroyColumnFamilyHandle(default_column_);
  const rocksdb::Status s = db_->Close();
  if (!s.ok()) LOG(ERROR) << "closing RocksDB tier " << dir_ << ": " << s.ToString();
}

StatusOr<RocksTier::Column*> RocksTier::OpenColumn(const std::string& name) {
  if (name.empty() || name == rocksdb::kDefaultColumnFamilyName) {
    return InvalidArgumentError("RocksDB tier: bad table name '" + name + "'");
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = columns_.find(name);
  if (it != columns_.end()) return it->second;
  Column* handle = nullptr;
  RETURN_IF_ERROR(FromRocks(db_->CreateColumnFamily(column_options_, name, &handle),
                            "creating column family " + name));
  columns_[name] = handle;
  return handle;
}

Status RocksTier::MultiGet(Column* column, const uint64_t* hashes, size_t n, size_t row_bytes,
                           uint8_t* rows, bool* found) const {
  if (n == 0) return Status::OK();
  std::vector<char> key_bytes(8 * n);
  std::vector<rocksdb::Slice> keys(n);
  for (size_t i = 0; i < n; ++i) {
    EncodeHash(hashes[i], &key_bytes[8 * i]);
    keys[i] = rocksdb::Slice(&key_bytes[8 * i], 8);
  }
  std::vector<rocksdb::PinnableSlice> values(n);
  std::vector<rocksdb::Status> statuses(n);
  db_->MultiGet(rocksdb::ReadOptions(), column, n, keys.data(), values.data(), statuses.data(),
                /*sorted_input=*/true);
  for (size_t i = 0; i < n; ++i) {
    found[i] = statuses[i].ok();
    if (statuses[i].IsNotFound()) continue;
    RETURN_IF_ERROR(FromRocks(statuses[i], "reading a row from " + dir_));
    if (values[i].size() != row_bytes) {
      return CorruptionError("RocksDB tier " + dir_ + ": row of key " +
                             std::to_string(UnMix64(hashes[i])) + " has " +
                             std::to_string(values[i].size()) + " bytes, expected " +
                             std::to_string(row_bytes));
    }
    std::memcpy(rows + i * row_bytes, values[i].data(), row_bytes);
  }
  return Status::OK();
}

void RocksTier::Put(rocksdb::WriteBatch* batch, Column* column, uint64_t hash,
                    const uint8_t* row, size_t row_bytes) {
  char key[8];
  EncodeHash(hash, key);
  batch->Put(column, rocksdb::Slice(key, 8),
             rocksdb::Slice(reinterpret_cast<const char*>(row), row_bytes));
}

void RocksTier::Delete(rocksdb::WriteBatch* batch, Column* column, uint64_t hash) {
  char key[8];
  EncodeHash(hash, key);
  batch->Delete(column, rocksdb::Slice(key, 8));
}

Status RocksTier::Write(rocksdb::WriteBatch* batch) {
  rocksdb::WriteOptions write;
  write.disableWAL = true;
  return FromRocks(db_->Write(write, batch), "writing rows to " + dir_);
}

Status RocksTier::ForEachInRange(
    Column* column, uint64_t first_hash, uint64_t last_hash,
    const std::function<void(uint64_t, const rocksdb::Slice&)>& fn) const {
  char first[8], end[8];
  EncodeHash(first_hash, first);
  rocksdb::ReadOptions read;
  read.fill_cache = false;  // a full scan would evict the hot blocks
  rocksdb::Slice upper;
  if (last_hash != ~uint64_t{0}) {
    EncodeHash(last_hash + 1, end);
    upper = rocksdb::Slice(end, 8);
    read.iterate_upper_bound = &upper;
  }
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read, column));
  for (it->Seek(rocksdb::Slice(first, 8)); it->Valid(); it->Next()) {
    const rocksdb::Slice key = it->key();
    if (key.size() != 8) {
      return CorruptionError("RocksDB tier " + dir_ + ": key of " + std::to_string(key.size()) +
                             " bytes");
    }
    fn(UnMix64(DecodeHash(key.data())), it->value());
  }
  return FromRocks(it->status(), "scanning " + dir_);
}

Status RocksTier::Flush() {
  std::vector<Column*> handles;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [name, handle] : columns_) handles.push_back(handle);
  }
  handles.push_back(default_column_);
  return FromRocks(db_->Flush(rocksdb::FlushOptions(), handles), "flushing " + dir_);
}

Status RocksTier::CreateCheckpoint(const std::string& dir) {
  if (read_only_) return FailedPreconditionError("RocksDB tier " + dir_ + " is read-only");
  rocksdb::Checkpoint* raw = nullptr;
  RETURN_IF_ERROR(FromRocks(rocksdb::Checkpoint::Create(db_.get(), &raw),
                            "checkpointing " + dir_));
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  // log_size_for_flush = 0: always flush the memtables, so the checkpoint
  // is SST files only (row writes skip the WAL and would be lost otherwise).
  return FromRocks(checkpoint->CreateCheckpoint(dir, /*log_size_for_flush=*/0),
                   "checkpointing " + dir_ + " into " + dir);
}

StatusOr<std::shared_ptr<RocksTier>> RocksTier::OpenReadOnly(const std::string& dir) {
  std::shared_ptr<RocksTier> tier(new RocksTier());
  tier->dir_ = dir;
  tier->read_only_ = true;
  rocksdb::Options db_options;
  db_options.paranoid_checks = true;
  db_options.info_log = std::make_shared<DiscardLogger>();
  std::vector<std::string> names;
  RETURN_IF_ERROR(FromRocks(rocksdb::DB::ListColumnFamilies(db_options, dir, &names),
                            "listing the column families of " + dir));
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : names) {
    descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  std::vector<Column*> handles;
  rocksdb::DB* db = nullptr;
  RETURN_IF_ERROR(FromRocks(
      rocksdb::DB::OpenForReadOnly(db_options, dir, descriptors, &handles, &db),
      "opening " + dir + " read-only"));
  tier->db_.reset(db);
  tier->TakeHandles(names, handles);
  return tier;
}

StatusOr<RocksTier::Column*> RocksTier::FindColumn(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = columns_.find(name);
  if (it == columns_.end()) {
    return NotFoundError("RocksDB " + dir_ + " has no column family '" + name + "'");
  }
  return it->second;
}

Status RocksTier::SeedFromCheckpoint(const std::string& checkpoint_dir,
                                     const std::string& live_dir) {
  namespace fs = std::filesystem;
  std::error_code error;
  fs::remove_all(live_dir, error);
  if (!error) fs::create_directories(live_dir, error);
  if (error) return IOError("cannot recreate " + live_dir + ": " + error.message());
  uint64_t linked = 0, copied = 0;
  for (const fs::directory_entry& entry : fs::directory_iterator(checkpoint_dir, error)) {
    if (!entry.is_regular_file()) continue;
    const fs::path target = fs::path(live_dir) / entry.path().filename();
    if (IsSstFile(entry.path())) {
      fs::create_hard_link(entry.path(), target, error);
      if (!error) {
        ++linked;
        continue;
      }
      error.clear();  // another file system: copy instead
    }
    fs::copy_file(entry.path(), target, error);
    if (error) {
      return IOError("cannot copy " + entry.path().string() + " to " + target.string() + ": " +
                     error.message());
    }
    ++copied;
  }
  if (error) return IOError("cannot list " + checkpoint_dir + ": " + error.message());
  LOG(INFO) << "RocksDB tier " << live_dir << " seeded from " << checkpoint_dir << " ("
            << linked << " files linked, " << copied << " copied)";
  return Status::OK();
}

Status RocksTier::VerifyChecksums() {
  return FromRocks(db_->VerifyChecksum(), "verifying " + dir_);
}

uint64_t RocksTier::DiskBytes(Column* column) const {
  uint64_t sst = 0, memtables = 0;
  db_->GetIntProperty(column, rocksdb::DB::Properties::kTotalSstFilesSize, &sst);
  db_->GetIntProperty(column, rocksdb::DB::Properties::kSizeAllMemTables, &memtables);
  return sst + memtables;
}

}  // namespace dips
