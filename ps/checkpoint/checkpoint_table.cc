#include "ps/checkpoint/checkpoint_table.h"

#include <dirent.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "ps/checkpoint/row_file.h"

namespace dips {

StatusOr<SparseTableOptions> CheckpointTableOptions(const CheckpointChain& chain) {
  const ckpt::Manifest& manifest = chain.newest();
  StatusOr<SparseOptimizerKind> optimizer = ParseSparseOptimizerKind(manifest.sparse_optimizer());
  if (!optimizer.ok()) {
    return CorruptionError(JoinPath(chain.newest_dir(), kManifestFileName) + ": " +
                           optimizer.status().message());
  }
  SparseTableOptions options;
  options.dim = static_cast<int>(manifest.dim());
  options.optimizer.kind = *optimizer;
  options.init_scale = manifest.init_scale();
  options.init_seed = manifest.init_seed();
  return options;
}

StatusOr<std::unique_ptr<SparseTable>> LoadCheckpointTable(const CheckpointChain& chain) {
  ASSIGN_OR_RETURN(SparseTableOptions options, CheckpointTableOptions(chain));
  ASSIGN_OR_RETURN(std::unique_ptr<SparseTable> table, SparseTable::Create(options));
  RETURN_IF_ERROR(RestoreRows(chain, options.optimizer.kind, {}, table.get()).status());
  return table;
}

StatusOr<RowDirInfo> LoadRowFiles(const std::string& dir, SparseOptimizerKind optimizer,
                                  SparseTable* table) {
  DIR* listing = ::opendir(dir.c_str());
  if (listing == nullptr) return IOError("cannot list " + dir + ": " + std::strerror(errno));
  std::vector<std::string> names;
  const std::string suffix = ".rows";
  while (const dirent* entry = ::readdir(listing)) {
    const std::string name = entry->d_name;
    if (name.size() > suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      names.push_back(name);
    }
  }
  ::closedir(listing);
  if (names.empty()) return NotFoundError("no *.rows file in " + dir);
  std::sort(names.begin(), names.end());
  RowDirInfo info;
  for (const std::string& name : names) {
    ASSIGN_OR_RETURN(RowFileInfo file,
                     LoadRowFile(JoinPath(dir, name), nullptr, optimizer, {}, table));
    ++info.files;
    info.rows += file.rows;
  }
  return info;
}

}  // namespace dips
