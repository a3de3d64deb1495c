#include "ps/checkpoint/shard_checkpoint.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "ps/checkpoint/checkpoint.h"
#include "ps/checkpoint/row_file.h"
#include "ps/rocksdb_tier.h"
#include "ps/row_layout.h"
#include "ps/table_common.h"

namespace dips {
namespace {

// Rows handed to ImportRows at once while loading a RocksDB shard.
constexpr size_t kImportBatchRows = 4096;

bool IsSst(const std::string& name) {
  return name.size() > 4 && name.compare(name.size() - 4, 4, ".sst") == 0;
}

StatusOr<std::vector<std::string>> RegularFiles(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    if (entry.is_regular_file()) names.push_back(entry.path().filename().string());
  }
  if (error) return IOError("cannot list " + dir + ": " + error.message());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

std::string ShardRocksdbDirName(uint32_t shard, uint32_t num_shards) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "shard-%05u-of-%05u.rocksdb", shard, num_shards);
  return buf;
}

StatusOr<FileDigest> ShardCheckpointWriter::DigestSst(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return IOError("cannot stat " + path + ": " + std::strerror(errno));
  }
  const std::string name = path.substr(path.find_last_of('/') + 1);
  const FileId id{name, static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                  static_cast<uint64_t>(st.st_size),
                  int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec};
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sst_digests_.find(id);
    if (it != sst_digests_.end()) return it->second;
  }
  ASSIGN_OR_RETURN(FileDigest digest, DigestFile(path));
  std::lock_guard<std::mutex> lock(mu_);
  sst_digests_[id] = digest;
  return digest;
}

StatusOr<ShardCheckpoint> ShardCheckpointWriter::Write(SparseTable* table,
                                                       const ShardCheckpointOptions& options,
                                                       const std::string& checkpoint_dir) {
  ShardCheckpoint shard;
  shard.shard = options.shard_index;
  if (!table->has_disk_tier()) {
    RowFileOptions row_options;
    row_options.optimizer = options.optimizer;
    row_options.since_step = options.since_step;
    row_options.shard_index = options.shard_index;
    row_options.num_shards = options.num_shards;
    const std::string name = ShardFileName(options.shard_index, options.num_shards);
    ASSIGN_OR_RETURN(RowFileInfo info,
                     WriteRowFile(*table, row_options, JoinPath(checkpoint_dir, name)));
    shard.rows = info.rows;
    shard.files.push_back(ShardCheckpointFile{name, info.digest, info.rows});
    return shard;
  }
  shard.rocksdb_dir = ShardRocksdbDirName(options.shard_index, options.num_shards);
  shard.column_family = table->disk_column_family();
  const std::string dir = JoinPath(checkpoint_dir, shard.rocksdb_dir);
  // A directory already there was left by an attempt at this checkpoint
  // that crashed before its manifest (the manifest comes after every
  // shard's reply), so it is no checkpoint: RocksDB needs the name free.
  std::error_code error;
  std::filesystem::remove_all(dir, error);
  if (error) return IOError("cannot remove the unfinished " + dir + ": " + error.message());
  ASSIGN_OR_RETURN(shard.rows, table->CheckpointDiskTier(dir));
  ASSIGN_OR_RETURN(std::vector<std::string> names, RegularFiles(dir));
  for (const std::string& name : names) {
    const std::string path = JoinPath(dir, name);
    // The other files (CURRENT, MANIFEST-*, OPTIONS-*) are small and were
    // written for this checkpoint.
    ASSIGN_OR_RETURN(FileDigest digest, IsSst(name) ? DigestSst(path) : DigestFile(path));
    shard.files.push_back(ShardCheckpointFile{JoinPath(shard.rocksdb_dir, name), digest, 0});
  }
  return shard;
}

void AddShardToManifest(const ShardCheckpoint& shard, ckpt::Manifest* manifest) {
  for (const ShardCheckpointFile& file : shard.files) {
    SetFileEntry(file.name, file.digest, file.rows, manifest->add_files());
  }
  if (!shard.self_contained()) return;
  ckpt::RocksdbShard* entry = manifest->add_rocksdb_shards();
  entry->set_shard(shard.shard);
  entry->set_dir(shard.rocksdb_dir);
  entry->set_rows(shard.rows);
  entry->set_column_family(shard.column_family);
}

StatusOr<uint64_t> LoadRocksdbShard(const std::string& checkpoint_dir,
                                    const ckpt::Manifest& manifest,
                                    const ckpt::RocksdbShard& shard,
                                    SparseOptimizerKind optimizer,
                                    const std::function<bool(uint64_t)>& keep,
                                    SparseTable* table) {
  const std::string dir = JoinPath(checkpoint_dir, shard.dir());
  if (static_cast<uint32_t>(table->dim()) != manifest.dim() ||
      static_cast<uint32_t>(StateFloatsPerWeight(optimizer)) !=
          manifest.state_floats_per_weight()) {
    return InvalidArgumentError(dir + " holds rows of dim " + std::to_string(manifest.dim()) +
                                " with " + std::to_string(manifest.state_floats_per_weight()) +
                                " state floats per weight; the table differs");
  }
  // Every file of the shard, checked before RocksDB reads any of them.
  const std::string prefix = shard.dir() + "/";
  size_t files = 0;
  for (const ckpt::FileEntry& entry : manifest.files()) {
    if (entry.name().compare(0, prefix.size(), prefix) != 0) continue;
    RETURN_IF_ERROR(VerifyFileDigest(JoinPath(checkpoint_dir, entry.name()), EntryDigest(entry)));
    ++files;
  }
  if (files == 0) return CorruptionError("the manifest lists no files of " + dir);

  ASSIGN_OR_RETURN(std::shared_ptr<RocksTier> tier, RocksTier::OpenReadOnly(dir));
  ASSIGN_OR_RETURN(RocksTier::Column * column, tier->FindColumn(shard.column_family()));
  const RowLayout layout(table->dim(), StateFloatsPerWeight(optimizer));
  const size_t row_bytes = layout.row_bytes();
  // 8-byte aligned copies of the values (RocksDB's may be misaligned).
  std::vector<uint64_t> buffer(kImportBatchRows * row_bytes / 8);
  std::vector<uint64_t> keys;
  std::vector<RowView> views;
  Status status;
  uint64_t rows = 0;
  auto import = [&] {
    if (status.ok() && !keys.empty()) {
      views.clear();
      for (size_t i = 0; i < keys.size(); ++i) {
        views.push_back(table_internal::ViewOf(
            layout, keys[i], reinterpret_cast<const uint8_t*>(buffer.data()) + i * row_bytes));
      }
      status = table->ImportRows(views.data(), views.size());
      rows += keys.size();
    }
    keys.clear();
  };
  RETURN_IF_ERROR(tier->ForEachInRange(
      column, 0, ~uint64_t{0}, [&](uint64_t key, const rocksdb::Slice& value) {
        if (!status.ok() || (keep && !keep(key))) return;
        if (value.size() != row_bytes) {
          status = CorruptionError(dir + ": row of key " + std::to_string(key) + " has " +
                                   std::to_string(value.size()) + " bytes, expected " +
                                   std::to_string(row_bytes));
          return;
        }
        std::memcpy(reinterpret_cast<uint8_t*>(buffer.data()) + keys.size() * row_bytes,
                    value.data(), row_bytes);
        keys.push_back(key);
        if (keys.size() == kImportBatchRows) import();
      }));
  import();
  RETURN_IF_ERROR(status);
  return rows;
}

}  // namespace dips
