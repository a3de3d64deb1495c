// `dips checkpoint-diff`: does a table restored from a checkpoint hold every
// row of it, unchanged? Compares a checkpoint's rows with a directory of row
// files dumped from the restored table (`dips dist-train
// --dump_rows_after_restore=DIR`, docs/checkpoints.md):
//   dips checkpoint-diff --checkpoint_dir=ROOT --checkpoint=ckpt-NNN --rows_dir=DIR
// --checkpoint_dir is the flag `dips train` uses, --checkpoint the one of
// `dips export` (here: a checkpoint's name under the root).
//
// Prints one summary line, then up to kExamples mismatched keys. Exit 0 only
// when every row of the checkpoint is in the dump with identical fields and
// the checkpoint has rows at all (a comparison of nothing proves nothing);
// 1 otherwise, 2 for usage errors.
#include <cinttypes>
#include <cstdio>
#include <memory>
#include <string>

#include <gflags/gflags.h>

#include "ps/checkpoint/checkpoint.h"
#include "ps/checkpoint/checkpoint_table.h"
#include "ps/checkpoint/table_diff.h"
#include "tools/subcommands.h"

DEFINE_string(rows_dir, "",
              "checkpoint-diff: directory of *.rows files dumped from a restored table "
              "(dist-train --dump_rows_after_restore)");
DECLARE_string(checkpoint_dir);  // worker/train_main.cc
DECLARE_string(checkpoint);      // tools/export_main.cc

namespace dips {
namespace {

constexpr size_t kExamples = 5;

StatusOr<TableDiff> Diff(const std::string& root, const std::string& name,
                         const std::string& rows_dir) {
  ASSIGN_OR_RETURN(CheckpointChain chain, VerifyCheckpoint(root, name));
  ASSIGN_OR_RETURN(std::unique_ptr<SparseTable> checkpoint, LoadCheckpointTable(chain));
  ASSIGN_OR_RETURN(SparseTableOptions options, CheckpointTableOptions(chain));
  ASSIGN_OR_RETURN(std::unique_ptr<SparseTable> dump, SparseTable::Create(options));
  RETURN_IF_ERROR(LoadRowFiles(rows_dir, options.optimizer.kind, dump.get()).status());
  return DiffTables(*checkpoint, *dump, options.optimizer.kind, kExamples);
}

}  // namespace

int RunCheckpointDiff(int argc, char** argv) {
  if (argc > 1) {
    std::fprintf(stderr, "dips checkpoint-diff: unexpected argument '%s' (it takes only flags)\n",
                 argv[1]);
    return 2;
  }
  if (FLAGS_checkpoint_dir.empty() || FLAGS_checkpoint.empty() || FLAGS_rows_dir.empty()) {
    std::fprintf(stderr,
                 "dips checkpoint-diff: --checkpoint_dir, --checkpoint and --rows_dir are "
                 "required\n");
    return 2;
  }
  StatusOr<TableDiff> diff = Diff(FLAGS_checkpoint_dir, FLAGS_checkpoint, FLAGS_rows_dir);
  if (!diff.ok()) {
    std::fprintf(stderr, "dips checkpoint-diff: %s\n", diff.status().ToString().c_str());
    return 1;
  }
  std::printf("checkpoint-diff: %" PRIu64 " checkpoint rows, %" PRIu64 " identical, %" PRIu64
              " missing, %" PRIu64 " different (dump has %" PRIu64 " rows)\n",
              diff->expected_rows, diff->identical, diff->missing, diff->different,
              diff->actual_rows);
  for (const RowMismatch& m : diff->examples) {
    std::printf("checkpoint-diff: key %" PRIu64 ": %s\n", m.key, m.what.c_str());
  }
  if (diff->expected_rows == 0) {
    std::fprintf(stderr, "dips checkpoint-diff: %s/%s has no rows: nothing was compared\n",
                 FLAGS_checkpoint_dir.c_str(), FLAGS_checkpoint.c_str());
    return 1;
  }
  return diff->same() ? 0 : 1;
}

}  // namespace dips
