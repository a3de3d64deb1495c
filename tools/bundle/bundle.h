// Serving bundles (docs/serving.md): a directory holding
//
//   embeddings.rows   every exported embedding row, sorted by key
//                     (tools/bundle/embedding_file.h), fp32 or fp16
//   dense.pb          bundle::DenseModel: model spec, dense params, Dice
//                     moving statistics (envelope of ps/checkpoint/file_io.h)
//   MANIFEST          bundle::BundleManifest: format version, source
//                     checkpoint and step, row precision and filter, and
//                     every file's size and CRC-32; written last, atomically
//
// A serving system needs only these files, this reader, the model code and
// Protobuf: no MPI, ZeroMQ, parameter server or trainer.
#ifndef DIPS_TOOLS_BUNDLE_BUNDLE_H_
#define DIPS_TOOLS_BUNDLE_BUNDLE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "proto/bundle.pb.h"
#include "tools/bundle/embedding_file.h"
#include "worker/model/model.h"

namespace dips {

inline constexpr uint32_t kBundleFormatVersion = 1;
inline constexpr char kBundleManifestName[] = "MANIFEST";
inline constexpr char kBundleDenseName[] = "dense.pb";
inline constexpr char kBundleRowsName[] = "embeddings.rows";

// "fp32" | "fp16".
StatusOr<bundle::RowPrecision> ParseRowPrecision(const std::string& name);
const char* RowPrecisionName(bundle::RowPrecision precision);

// The model config of `dense` once its spec is valid and its parameter and
// Dice-state sizes are the ones that model has. Corruption (prefixed with
// `where`) otherwise: a dense file that passed its checksum but describes
// no model this code can build.
StatusOr<ModelConfig> CheckDenseModel(const bundle::DenseModel& dense, const std::string& where);

struct LoadedBundle {
  bundle::BundleManifest manifest;
  bundle::DenseModel dense;
  ModelConfig config;
  std::unique_ptr<EmbeddingFile> rows;
};

// Loads the bundle in `dir`: reads the manifest, checks every listed file's
// size and CRC-32 (reading each file once, in constant memory), then parses
// dense.pb and maps the rows file. NotFound when dir has no manifest;
// Corruption naming the file for any damage or inconsistency (a missing
// listed file included), so nothing from a damaged bundle is ever served.
StatusOr<LoadedBundle> LoadBundle(const std::string& dir);

}  // namespace dips

#endif  // DIPS_TOOLS_BUNDLE_BUNDLE_H_
