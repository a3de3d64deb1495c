// Checkpoint directories (docs/checkpoints.md). A job's checkpoint root holds
// one directory per checkpoint, named by its global step:
//
//   <root>/ckpt-000000001200/
//     shard-00000-of-00002.rows   row files (ps/checkpoint/row_file.h), or
//     shard-00000-of-00002.rocksdb/  a RocksDB checkpoint of a shard with a
//                                 disk tier (ps/checkpoint/shard_checkpoint.h)
//     dense.pb                    DenseState
//     worker-00000.pb ...         WorkerState per worker
//     MANIFEST                    Manifest, written last and atomically
//
// A checkpoint exists only once its MANIFEST does: every file is written
// and fsynced first, the manifest (with every file's size and CRC-32) goes
// in through a temp file and a rename. An incremental checkpoint holds only
// rows updated since its base; restoring applies the chain from the last
// full checkpoint forward.
#ifndef DIPS_PS_CHECKPOINT_CHECKPOINT_H_
#define DIPS_PS_CHECKPOINT_CHECKPOINT_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "proto/checkpoint.pb.h"
#include "ps/checkpoint/file_io.h"
#include "ps/sparse_optimizer.h"
#include "ps/sparse_table.h"

namespace dips {

// Written by this build; format 1 (no RocksDB shards) is still read.
inline constexpr uint32_t kCheckpointFormatVersion = 2;
inline constexpr char kManifestFileName[] = "MANIFEST";
inline constexpr char kDenseFileName[] = "dense.pb";

// "ckpt-000000001200".
std::string CheckpointName(int64_t step);
// "shard-00003-of-00008.rows".
std::string ShardFileName(uint32_t shard, uint32_t num_shards);
// "worker-00001.pb".
std::string WorkerFileName(uint32_t worker);

std::string JoinPath(const std::string& dir, const std::string& name);

// A verified checkpoint and the chain it needs: chain[0] is a full
// checkpoint, each later one an incremental on top of the one before, and
// chain.back() is the checkpoint asked for.
struct CheckpointChain {
  std::string root;
  std::vector<std::string> names;
  std::vector<ckpt::Manifest> manifests;

  const ckpt::Manifest& newest() const { return manifests.back(); }
  std::string newest_dir() const { return JoinPath(root, names.back()); }
};

// Names of the directories under root that have a MANIFEST file, oldest
// step first. An absent root is an empty list.
StatusOr<std::vector<std::string>> ListCheckpoints(const std::string& root);

// Reads the manifests of root/name and of its bases (each checked by its
// envelope's CRC) without reading the other files: for a rank that was told
// which checkpoint to load by one that verified it. Corruption for a broken
// chain; NotFound when root/name has no manifest.
StatusOr<CheckpointChain> ReadCheckpointChain(const std::string& root, const std::string& name);

// Reads the manifest of root/name and of its bases, and checks every file
// of every checkpoint in the chain against the manifests' sizes and CRCs.
// Corruption (naming the file) for any mismatch, a missing file or a broken
// chain; NotFound when root/name has no manifest.
StatusOr<CheckpointChain> VerifyCheckpoint(const std::string& root, const std::string& name);

// The newest checkpoint under root that verifies. Each newer one that fails
// is logged (with the reason, naming the file) and skipped. NotFound when
// none verifies.
StatusOr<CheckpointChain> FindLatestCheckpoint(const std::string& root);

// Writes the manifest of root/name last and atomically (file_io.h).
Status CommitManifest(const std::string& root, const std::string& name,
                      const ckpt::Manifest& manifest);

// Deletes every checkpoint directory under root except the newest `keep`
// complete ones and the checkpoints their chains need. Directories without
// a manifest that are older than the newest complete checkpoint (left by a
// crash) are deleted too. keep >= 1.
Status PruneCheckpoints(const std::string& root, int keep);

// Imports into `table` the rows of every row file and RocksDB shard of the
// chain, oldest checkpoint first (later rows replace earlier ones), that
// keep(key) accepts. Files are verified against their manifest again as
// they are read. Returns the number of rows imported.
StatusOr<uint64_t> RestoreRows(const CheckpointChain& chain, SparseOptimizerKind optimizer,
                               const std::function<bool(uint64_t)>& keep, SparseTable* table);

// Fills a manifest entry (checkpoints and serving bundles share the type).
void SetFileEntry(const std::string& name, const FileDigest& digest, uint64_t rows,
                  ckpt::FileEntry* entry);

// Digest of a manifest entry.
inline FileDigest EntryDigest(const ckpt::FileEntry& entry) {
  return FileDigest{entry.bytes(), entry.crc32()};
}

}  // namespace dips

#endif  // DIPS_PS_CHECKPOINT_CHECKPOINT_H_
