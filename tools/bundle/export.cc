#include "tools/bundle/export.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <utility>
#include <vector>

#include "ps/checkpoint/checkpoint.h"
#include "ps/checkpoint/checkpoint_table.h"
#include "ps/checkpoint/file_io.h"
#include "ps/sparse_table.h"
#include "tools/bundle/bundle.h"
#include "tools/bundle/embedding_file.h"

namespace dips {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// The chain of `path`: one checkpoint directory, or the newest intact
// checkpoint of a root.
StatusOr<CheckpointChain> ResolveCheckpoint(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  if (!Exists(JoinPath(path, kManifestFileName))) return FindLatestCheckpoint(path);
  const size_t slash = path.find_last_of('/');
  const std::string root = slash == std::string::npos ? "." : path.substr(0, slash);
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  return VerifyCheckpoint(root, name);
}

// Trained rows with count >= min_count, sorted by key.
struct SortedRows {
  std::vector<uint64_t> keys;
  std::vector<float> values;
  uint64_t filtered = 0;
};

SortedRows CollectRows(const SparseTable& table, uint64_t min_count) {
  const size_t dim = static_cast<size_t>(table.dim());
  std::vector<uint64_t> keys;
  std::vector<float> values;
  uint64_t filtered = 0;
  table.ForEachRow([&](const RowView& row) {
    if (row.count < min_count) {
      ++filtered;
      return;
    }
    keys.push_back(row.key);
    values.insert(values.end(), row.weights, row.weights + dim);
  });
  std::vector<size_t> order(keys.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return keys[a] < keys[b]; });
  SortedRows sorted;
  sorted.filtered = filtered;
  sorted.keys.reserve(keys.size());
  sorted.values.reserve(values.size());
  for (size_t i : order) {
    sorted.keys.push_back(keys[i]);
    sorted.values.insert(sorted.values.end(), values.begin() + i * dim,
                         values.begin() + (i + 1) * dim);
  }
  return sorted;
}

void AddFile(const std::string& name, const FileDigest& digest, uint64_t rows,
             bundle::BundleManifest* manifest) {
  SetFileEntry(name, digest, rows, manifest->add_files());
}

}  // namespace

StatusOr<ExportReport> ExportBundle(const ExportOptions& options) {
  if (options.checkpoint.empty()) return InvalidArgumentError("no checkpoint given");
  if (options.out_dir.empty()) return InvalidArgumentError("no output directory given");
  if (Exists(JoinPath(options.out_dir, kBundleManifestName))) {
    return FailedPreconditionError(options.out_dir +
                                   " already holds a bundle; export into a new directory");
  }
  ASSIGN_OR_RETURN(CheckpointChain chain, ResolveCheckpoint(options.checkpoint));
  const ckpt::Manifest& ckpt_manifest = chain.newest();
  const std::string ckpt_dir = chain.newest_dir();

  bundle::DenseModel dense;
  {
    ckpt::DenseState state;
    RETURN_IF_ERROR(ReadProtoFile(JoinPath(ckpt_dir, kDenseFileName), &state));
    *dense.mutable_model() = ckpt_manifest.model();
    *dense.mutable_params() = std::move(*state.mutable_params());
    *dense.mutable_dice_state() = std::move(*state.mutable_dice_state());
  }
  ASSIGN_OR_RETURN(ModelConfig config,
                   CheckDenseModel(dense, JoinPath(ckpt_dir, kDenseFileName)));
  if (ckpt_manifest.dim() != static_cast<uint32_t>(config.embedding_dim)) {
    return CorruptionError(JoinPath(ckpt_dir, kManifestFileName) + ": rows of dim " +
                           std::to_string(ckpt_manifest.dim()) + " for a model with embeddings of " +
                           std::to_string(config.embedding_dim));
  }

  ASSIGN_OR_RETURN(std::unique_ptr<SparseTable> table, LoadCheckpointTable(chain));
  SortedRows rows = CollectRows(*table, options.min_count);
  table.reset();

  RETURN_IF_ERROR(MakeDirs(options.out_dir));
  bundle::BundleManifest manifest;
  manifest.set_format_version(kBundleFormatVersion);
  manifest.set_source_checkpoint(ckpt_dir);
  manifest.set_source_step(ckpt_manifest.step());
  manifest.set_dim(static_cast<uint32_t>(config.embedding_dim));
  manifest.set_precision(options.precision);
  manifest.set_min_count(options.min_count);
  manifest.set_rows(rows.keys.size());
  manifest.set_rows_filtered(rows.filtered);
  manifest.set_init_scale(ckpt_manifest.init_scale());
  manifest.set_init_seed(ckpt_manifest.init_seed());
  manifest.set_model_kind(ckpt_manifest.model().kind());
  ASSIGN_OR_RETURN(FileDigest rows_digest,
                   WriteEmbeddingFile(JoinPath(options.out_dir, kBundleRowsName),
                                      config.embedding_dim, options.precision, rows.keys.data(),
                                      rows.values.data(), rows.keys.size()));
  AddFile(kBundleRowsName, rows_digest, rows.keys.size(), &manifest);
  ASSIGN_OR_RETURN(FileDigest dense_digest,
                   WriteProtoFile(JoinPath(options.out_dir, kBundleDenseName), dense));
  AddFile(kBundleDenseName, dense_digest, 0, &manifest);
  manifest.set_created_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
  ASSIGN_OR_RETURN(FileDigest manifest_digest,
                   WriteProtoFile(JoinPath(options.out_dir, kBundleManifestName), manifest));

  ExportReport report;
  report.checkpoint_dir = ckpt_dir;
  report.step = ckpt_manifest.step();
  report.rows = rows.keys.size();
  report.rows_filtered = rows.filtered;
  report.bytes = rows_digest.bytes + dense_digest.bytes + manifest_digest.bytes;
  return report;
}

}  // namespace dips
