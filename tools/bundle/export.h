// `dips export`: checkpoint -> serving bundle (tools/bundle/bundle.h,
// docs/serving.md).
//
// Memory: the checkpoint's rows are restored into an in-memory table (with
// their optimiser state) and the kept rows are then copied and sorted in
// memory, so export needs about twice the rows' size in RAM. An external
// sort for checkpoints larger than memory is not implemented.
#ifndef DIPS_TOOLS_BUNDLE_EXPORT_H_
#define DIPS_TOOLS_BUNDLE_EXPORT_H_

#include <cstdint>
#include <string>

#include "common/status.h"
#include "proto/bundle.pb.h"

namespace dips {

struct ExportOptions {
  // A checkpoint root (the newest checkpoint there that verifies is
  // exported) or one checkpoint directory (a directory with a MANIFEST).
  std::string checkpoint;
  // Bundle directory; created if absent. Refused if it already holds a
  // bundle: a serving system switches directories, it never sees a bundle
  // rewritten under it.
  std::string out_dir;
  // Rows seen fewer than min_count times (their occurrence count) are left
  // out; the predictor then scores those keys with their initial values,
  // as it does keys never trained. 0 and 1 keep every trained row.
  uint64_t min_count = 0;
  bundle::RowPrecision precision = bundle::ROW_PRECISION_FP32;
};

struct ExportReport {
  std::string checkpoint_dir;  // the checkpoint exported
  int64_t step = 0;
  uint64_t rows = 0;           // rows written
  uint64_t rows_filtered = 0;  // trained rows left out by min_count
  uint64_t bytes = 0;          // bundle size, all files
};

// Verifies the checkpoint chain (checksums of every file), restores its
// rows oldest checkpoint first, checks the dense state against the model
// spec, and writes the bundle, its MANIFEST last. NotFound when there is no
// intact checkpoint; Corruption for damaged or inconsistent checkpoint
// files; FailedPrecondition when out_dir already holds a bundle.
StatusOr<ExportReport> ExportBundle(const ExportOptions& options);

}  // namespace dips

#endif  // DIPS_TOOLS_BUNDLE_EXPORT_H_
