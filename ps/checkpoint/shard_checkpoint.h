// Shard checkpoints: how one server shard's rows go into a checkpoint and
// come back (docs/checkpoints.md).
//
// A memory table writes a row file (row_file.h): every pushed row, or only
// the rows updated after since_step for an incremental checkpoint.
//
// A table with a disk tier is checkpointed with RocksDB's own facility: its
// dirty memory rows are written to the tier, then RocksDB checkpoints the
// tier into shard-NNNNN-of-NNNNN.rocksdb/ (hard links to the immutable SST
// files, so a checkpoint writes only what changed since the previous one).
// Such a directory holds every row of the shard, whatever since_step asked:
// it is self-contained, and a checkpoint made only of such shards is full.
// Every file in it goes into the manifest with its size and CRC-32 like any
// other file, so verification, corruption detection and pruning treat it
// the same way.
#ifndef DIPS_PS_CHECKPOINT_SHARD_CHECKPOINT_H_
#define DIPS_PS_CHECKPOINT_SHARD_CHECKPOINT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "common/status.h"
#include "common/thread_annotations.h"
#include "proto/checkpoint.pb.h"
#include "ps/checkpoint/file_io.h"
#include "ps/sparse_optimizer.h"
#include "ps/sparse_table.h"

namespace dips {

// "shard-00003-of-00008.rocksdb".
std::string ShardRocksdbDirName(uint32_t shard, uint32_t num_shards);

struct ShardCheckpointFile {
  std::string name;  // relative to the checkpoint directory
  FileDigest digest;
  uint64_t rows = 0;  // row files: rows inside; RocksDB files: 0
};

// What one shard wrote into a checkpoint.
struct ShardCheckpoint {
  uint32_t shard = 0;
  uint64_t rows = 0;
  // Empty for a row file; otherwise the RocksDB checkpoint directory
  // (relative to the checkpoint directory) and the table's column family.
  std::string rocksdb_dir;
  std::string column_family;
  std::vector<ShardCheckpointFile> files;

  // Holds every row of the shard (a RocksDB checkpoint).
  bool self_contained() const { return !rocksdb_dir.empty(); }
};

struct ShardCheckpointOptions {
  SparseOptimizerKind optimizer = SparseOptimizerKind::kAdam;  // the table's
  int64_t since_step = -1;  // row files: rows updated after it (-1: all pushed)
  uint32_t shard_index = 0;
  uint32_t num_shards = 1;
};

// Writes shards into checkpoint directories. Keeps the digests of the SST
// files it has read: SST files never change, and a checkpoint's hard link
// shares its inode with the live file and with the links of earlier
// checkpoints, so each SST is read once however many checkpoints hold it.
// The key is the file's name (RocksDB never reuses an SST number), device,
// inode, size and modification time: an inode freed by compaction and
// pruning is soon reused by a new file, often of the same size.
// Thread-safe.
class ShardCheckpointWriter {
 public:
  // Writes `table`'s shard into `checkpoint_dir` (which exists), replacing
  // what an unfinished earlier attempt left there. The caller quiesces
  // pushes. Errors: IOError and those of the table's disk tier.
  StatusOr<ShardCheckpoint> Write(SparseTable* table, const ShardCheckpointOptions& options,
                                  const std::string& checkpoint_dir);

 private:
  // name, device, inode, size, mtime in ns
  using FileId = std::tuple<std::string, uint64_t, uint64_t, uint64_t, int64_t>;
  StatusOr<FileDigest> DigestSst(const std::string& path);

  std::mutex mu_;
  std::map<FileId, FileDigest> sst_digests_ GUARDED_BY(mu_);
};

// Lists what `shard` wrote in `manifest`: every file (Manifest.files) and,
// for a RocksDB checkpoint, its rocksdb_shards entry.
void AddShardToManifest(const ShardCheckpoint& shard, ckpt::Manifest* manifest);

// Imports into `table` the rows of the RocksDB shard `shard` of the
// checkpoint in `checkpoint_dir` (described by `manifest`) for which
// keep(key) is true (all when keep is empty). The shard's files are checked
// against the manifest before the database is opened (read-only; nothing in
// the checkpoint is written). Corruption names the file or the row.
// Returns the number of rows imported.
StatusOr<uint64_t> LoadRocksdbShard(const std::string& checkpoint_dir,
                                    const ckpt::Manifest& manifest,
                                    const ckpt::RocksdbShard& shard,
                                    SparseOptimizerKind optimizer,
                                    const std::function<bool(uint64_t)>& keep,
                                    SparseTable* table);

}  // namespace dips

#endif  // DIPS_PS_CHECKPOINT_SHARD_CHECKPOINT_H_
