#include "tools/bundle/bundle.h"

#include <sys/stat.h>

#include <utility>

#include "ps/checkpoint/checkpoint.h"
#include "ps/checkpoint/file_io.h"
#include "worker/model/model_spec.h"

namespace dips {

StatusOr<bundle::RowPrecision> ParseRowPrecision(const std::string& name) {
  if (name == "fp32") return bundle::ROW_PRECISION_FP32;
  if (name == "fp16") return bundle::ROW_PRECISION_FP16;
  return InvalidArgumentError("unknown row precision '" + name + "' (want fp32 or fp16)");
}

const char* RowPrecisionName(bundle::RowPrecision precision) {
  switch (precision) {
    case bundle::ROW_PRECISION_FP32:
      return "fp32";
    case bundle::ROW_PRECISION_FP16:
      return "fp16";
    default:
      return "unknown";
  }
}

StatusOr<ModelConfig> CheckDenseModel(const bundle::DenseModel& dense, const std::string& where) {
  StatusOr<ModelConfig> config = FromModelSpec(dense.model());
  if (!config.ok()) return CorruptionError(where + ": bad model spec: " + config.status().message());
  StatusOr<std::unique_ptr<Model<float>>> model = Model<float>::Create(*config);
  if (!model.ok()) {
    return CorruptionError(where + ": cannot build the model: " + model.status().message());
  }
  const size_t params = static_cast<size_t>(dense.params_size());
  const size_t state = static_cast<size_t>(dense.dice_state_size());
  if (params != (*model)->num_params() || state != (*model)->num_state()) {
    return CorruptionError(where + " holds " + std::to_string(params) + " parameters and " +
                           std::to_string(state) + " Dice statistics; its " +
                           dense.model().kind() + " model has " +
                           std::to_string((*model)->num_params()) + " and " +
                           std::to_string((*model)->num_state()));
  }
  return config;
}

StatusOr<LoadedBundle> LoadBundle(const std::string& dir) {
  const std::string manifest_path = JoinPath(dir, kBundleManifestName);
  struct stat st;
  if (::stat(manifest_path.c_str(), &st) != 0) {
    return NotFoundError(dir + " is not a serving bundle (no " + kBundleManifestName + ")");
  }
  LoadedBundle loaded;
  bundle::BundleManifest& manifest = loaded.manifest;
  RETURN_IF_ERROR(ReadProtoFile(manifest_path, &manifest));
  if (manifest.format_version() != kBundleFormatVersion) {
    return CorruptionError(manifest_path + ": unsupported bundle format version " +
                           std::to_string(manifest.format_version()));
  }
  bool has_dense = false, has_rows = false;
  for (const ckpt::FileEntry& entry : manifest.files()) {
    // VerifyFileDigest reports a missing file as Corruption too: the
    // manifest promised it.
    RETURN_IF_ERROR(VerifyFileDigest(JoinPath(dir, entry.name()), EntryDigest(entry)));
    has_dense |= entry.name() == kBundleDenseName;
    has_rows |= entry.name() == kBundleRowsName;
  }
  if (!has_dense || !has_rows) {
    return CorruptionError(manifest_path + " does not list both " + kBundleDenseName + " and " +
                           kBundleRowsName);
  }
  const std::string dense_path = JoinPath(dir, kBundleDenseName);
  RETURN_IF_ERROR(ReadProtoFile(dense_path, &loaded.dense));
  ASSIGN_OR_RETURN(loaded.config, CheckDenseModel(loaded.dense, dense_path));
  const std::string rows_path = JoinPath(dir, kBundleRowsName);
  StatusOr<std::unique_ptr<EmbeddingFile>> rows = EmbeddingFile::Open(rows_path);
  if (!rows.ok()) {
    // It passed its checksum a moment ago: gone or unreadable now is damage.
    if (rows.status().code() == StatusCode::kCorruption) return rows.status();
    return CorruptionError(rows.status().ToString());
  }
  loaded.rows = std::move(rows).value();
  if (loaded.rows->dim() != loaded.config.embedding_dim ||
      manifest.dim() != static_cast<uint32_t>(loaded.config.embedding_dim) ||
      loaded.rows->rows() != manifest.rows() || loaded.rows->precision() != manifest.precision()) {
    return CorruptionError(dir + ": the manifest, dense.pb and " + kBundleRowsName +
                           " disagree on the rows' dim, count or precision");
  }
  return loaded;
}

}  // namespace dips
