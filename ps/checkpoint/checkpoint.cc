#include "ps/checkpoint/checkpoint.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>

#include "ps/checkpoint/row_file.h"
#include "ps/checkpoint/shard_checkpoint.h"

namespace dips {
namespace {

constexpr char kCheckpointPrefix[] = "ckpt-";

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// Step encoded in a checkpoint directory name; -1 if it is not one.
int64_t StepOf(const std::string& name) {
  const size_t prefix = std::strlen(kCheckpointPrefix);
  if (name.compare(0, prefix, kCheckpointPrefix) != 0 || name.size() == prefix) return -1;
  int64_t step = 0;
  for (size_t i = prefix; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    step = step * 10 + (name[i] - '0');
  }
  return step;
}

// All checkpoint-named directories under root, oldest step first.
StatusOr<std::vector<std::string>> CheckpointDirs(const std::string& root) {
  std::vector<std::string> names;
  DIR* dir = ::opendir(root.c_str());
  if (dir == nullptr) {
    if (errno == ENOENT) return names;
    return IOError("cannot list checkpoint root " + root + ": " + std::strerror(errno));
  }
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (StepOf(name) >= 0) names.push_back(name);
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end(),
            [](const std::string& a, const std::string& b) { return StepOf(a) < StepOf(b); });
  return names;
}

// Deletes a checkpoint directory with everything in it (its files and its
// RocksDB shard directories).
Status RemoveTree(const std::string& path) {
  std::error_code error;
  std::filesystem::remove_all(path, error);
  if (error) return IOError("cannot delete " + path + ": " + error.message());
  return Status::OK();
}

Status ReadManifest(const std::string& root, const std::string& name, ckpt::Manifest* manifest) {
  const std::string path = JoinPath(JoinPath(root, name), kManifestFileName);
  if (!Exists(path)) return NotFoundError("checkpoint " + JoinPath(root, name) + " has no manifest");
  RETURN_IF_ERROR(ReadProtoFile(path, manifest));
  if (manifest->format_version() != 1 &&
      manifest->format_version() != kCheckpointFormatVersion) {
    return CorruptionError(path + ": unsupported checkpoint format version " +
                           std::to_string(manifest->format_version()));
  }
  if (CheckpointName(manifest->step()) != name) {
    return CorruptionError(path + " describes step " + std::to_string(manifest->step()) +
                           ", not its directory's");
  }
  return Status::OK();
}

}  // namespace

std::string CheckpointName(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%s%012" PRId64, kCheckpointPrefix, step);
  return buf;
}

std::string ShardFileName(uint32_t shard, uint32_t num_shards) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "shard-%05u-of-%05u.rows", shard, num_shards);
  return buf;
}

std::string WorkerFileName(uint32_t worker) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "worker-%05u.pb", worker);
  return buf;
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (dir.empty() || dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

void SetFileEntry(const std::string& name, const FileDigest& digest, uint64_t rows,
                  ckpt::FileEntry* entry) {
  entry->set_name(name);
  entry->set_bytes(digest.bytes);
  entry->set_crc32(digest.crc32);
  entry->set_rows(rows);
}

StatusOr<std::vector<std::string>> ListCheckpoints(const std::string& root) {
  ASSIGN_OR_RETURN(std::vector<std::string> dirs, CheckpointDirs(root));
  std::vector<std::string> complete;
  for (const std::string& name : dirs) {
    if (Exists(JoinPath(JoinPath(root, name), kManifestFileName))) complete.push_back(name);
  }
  return complete;
}

StatusOr<CheckpointChain> ReadCheckpointChain(const std::string& root,
                                              const std::string& name) {
  CheckpointChain chain;
  chain.root = root;
  std::string current = name;
  std::set<std::string> seen;
  while (true) {
    if (!seen.insert(current).second) {
      return CorruptionError("checkpoint chain under " + root + " loops at " + current);
    }
    ckpt::Manifest manifest;
    Status read = ReadManifest(root, current, &manifest);
    if (!read.ok()) {
      if (current != name && read.code() == StatusCode::kNotFound) {
        return CorruptionError("incremental checkpoint " + JoinPath(root, name) +
                               " needs " + JoinPath(root, current) + ", which is gone");
      }
      return read;
    }
    const bool incremental = manifest.incremental();
    const std::string base = manifest.base();
    chain.names.push_back(current);
    chain.manifests.push_back(std::move(manifest));
    if (!incremental) break;
    if (base.empty()) {
      return CorruptionError(JoinPath(JoinPath(root, current), kManifestFileName) +
                             ": incremental without a base");
    }
    current = base;
  }
  std::reverse(chain.names.begin(), chain.names.end());
  std::reverse(chain.manifests.begin(), chain.manifests.end());
  return chain;
}

StatusOr<CheckpointChain> VerifyCheckpoint(const std::string& root, const std::string& name) {
  ASSIGN_OR_RETURN(CheckpointChain chain, ReadCheckpointChain(root, name));
  for (size_t c = 0; c < chain.names.size(); ++c) {
    const std::string dir = JoinPath(root, chain.names[c]);
    for (const ckpt::FileEntry& entry : chain.manifests[c].files()) {
      RETURN_IF_ERROR(VerifyFileDigest(JoinPath(dir, entry.name()), EntryDigest(entry)));
    }
  }
  return chain;
}

StatusOr<CheckpointChain> FindLatestCheckpoint(const std::string& root) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListCheckpoints(root));
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    StatusOr<CheckpointChain> chain = VerifyCheckpoint(root, *it);
    if (chain.ok()) return chain;
    LOG(WARNING) << "skipping checkpoint " << JoinPath(root, *it) << ": "
                 << chain.status().ToString();
  }
  return NotFoundError("no complete, intact checkpoint under " + root);
}

Status CommitManifest(const std::string& root, const std::string& name,
                      const ckpt::Manifest& manifest) {
  return WriteProtoFile(JoinPath(JoinPath(root, name), kManifestFileName), manifest).status();
}

Status PruneCheckpoints(const std::string& root, int keep) {
  if (keep < 1) return InvalidArgumentError("keep_checkpoints must be >= 1");
  ASSIGN_OR_RETURN(std::vector<std::string> dirs, CheckpointDirs(root));
  ASSIGN_OR_RETURN(std::vector<std::string> complete, ListCheckpoints(root));
  if (complete.empty()) return Status::OK();
  std::set<std::string> needed;
  const size_t first_kept = complete.size() > static_cast<size_t>(keep) ? complete.size() - keep : 0;
  for (size_t i = first_kept; i < complete.size(); ++i) {
    std::string current = complete[i];
    // Follow the chain through the manifests; an unreadable one keeps
    // itself only (it will be skipped by a restore anyway).
    while (needed.insert(current).second) {
      ckpt::Manifest manifest;
      if (!ReadManifest(root, current, &manifest).ok() || !manifest.incremental()) break;
      current = manifest.base();
    }
  }
  const int64_t newest_step = StepOf(complete.back());
  for (const std::string& name : dirs) {
    if (needed.count(name) > 0 || StepOf(name) > newest_step) continue;  // newer: in progress
    RETURN_IF_ERROR(RemoveTree(JoinPath(root, name)));
  }
  return Status::OK();
}

StatusOr<uint64_t> RestoreRows(const CheckpointChain& chain, SparseOptimizerKind optimizer,
                               const std::function<bool(uint64_t)>& keep, SparseTable* table) {
  uint64_t rows = 0;
  for (size_t c = 0; c < chain.names.size(); ++c) {
    const std::string dir = JoinPath(chain.root, chain.names[c]);
    for (const ckpt::FileEntry& entry : chain.manifests[c].files()) {
      if (!EndsWith(entry.name(), ".rows")) continue;
      const FileDigest digest = EntryDigest(entry);
      ASSIGN_OR_RETURN(RowFileInfo info, LoadRowFile(JoinPath(dir, entry.name()), &digest,
                                                     optimizer, keep, table));
      rows += info.rows;
    }
    for (const ckpt::RocksdbShard& shard : chain.manifests[c].rocksdb_shards()) {
      ASSIGN_OR_RETURN(uint64_t loaded, LoadRocksdbShard(dir, chain.manifests[c], shard,
                                                         optimizer, keep, table));
      rows += loaded;
    }
  }
  return rows;
}

}  // namespace dips
