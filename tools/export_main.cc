// `dips export`: checkpoint -> serving bundle (tools/bundle/export.h).
//   dips export --checkpoint=ROOT_OR_DIR --out=DIR [--min_count=K] [--precision=fp16]
#include <cinttypes>
#include <cstdio>

#include <gflags/gflags.h>

#include "tools/bundle/bundle.h"
#include "tools/bundle/export.h"
#include "tools/subcommands.h"

DEFINE_string(checkpoint, "",
              "export: a checkpoint root (its newest intact checkpoint is exported) or one "
              "checkpoint directory; checkpoint-diff: a checkpoint's name under "
              "--checkpoint_dir");
DEFINE_string(out, "", "export: bundle directory to create (must not hold a bundle yet)");
DEFINE_uint64(min_count, 0,
              "export: leave out rows seen fewer times; the predictor serves those keys at their "
              "initial values, like never-trained keys");
DEFINE_string(precision, "fp32", "export: embedding rows as fp32 or fp16");

namespace dips {

int RunExport(int argc, char** argv) {
  if (argc > 1) {
    std::fprintf(stderr, "dips export: unexpected argument '%s' (export takes only flags)\n",
                 argv[1]);
    return 2;
  }
  ExportOptions options;
  options.checkpoint = FLAGS_checkpoint;
  options.out_dir = FLAGS_out;
  options.min_count = FLAGS_min_count;
  StatusOr<bundle::RowPrecision> precision = ParseRowPrecision(FLAGS_precision);
  if (!precision.ok()) {
    std::fprintf(stderr, "dips export: --precision: %s\n", precision.status().ToString().c_str());
    return 2;
  }
  options.precision = *precision;
  if (options.checkpoint.empty() || options.out_dir.empty()) {
    std::fprintf(stderr, "dips export: --checkpoint and --out are required\n");
    return 2;
  }
  StatusOr<ExportReport> report = ExportBundle(options);
  if (!report.ok()) {
    std::fprintf(stderr, "dips export: %s\n", report.status().ToString().c_str());
    return 1;
  }
  std::printf("exported %s (step %" PRId64 ") to %s: %" PRIu64 " rows (%s), %" PRIu64
              " rows below min_count %" PRIu64 " left out, %.1f MB\n",
              report->checkpoint_dir.c_str(), report->step, options.out_dir.c_str(),
              report->rows, RowPrecisionName(options.precision), report->rows_filtered,
              options.min_count, static_cast<double>(report->bytes) / 1e6);
  return 0;
}

}  // namespace dips
