// A small trained model and its checkpoint, built in-process for the
// export/predictor tests and bench/predict_bench: behaviour-log lines with a
// learnable click rule (the target's category among the latest behaviours),
// a few steps of real training (table pushes with lazy Adam, SGD on the
// dense buffer, Dice statistics updated by training forwards), and
// checkpoints written with the checkpoint library exactly as a trainer
// would. Also the reference scorer the predictor must agree with: the
// trainer's evaluation path (BatchBuilder without negatives, Pull with
// create_missing=false, Forward with training=false).
#ifndef DIPS_TESTS_PREDICTOR_CHECKPOINT_FIXTURE_H_
#define DIPS_TESTS_PREDICTOR_CHECKPOINT_FIXTURE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "ps/sparse_table.h"
#include "worker/data/sample.h"
#include "worker/model/model.h"

namespace dips {
namespace testing {

struct FixtureOptions {
  ModelKind kind = ModelKind::kDin;
  int embedding_dim = 18;
  std::vector<int> mlp_hidden = {200, 80};
  int max_history = 50;
  bool has_shop = false;
  int extra_fields = 0;      // named "profile:f0", ...
  int items = 2000;          // item i has category i % categories
  int categories = 60;
  int train_samples = 2048;
  int test_samples = 512;
  int train_batch = 128;
  int train_epochs = 1;
  uint64_t seed = 5;
};

struct Fixture {
  FixtureOptions options;
  ModelConfig config;
  LogSchema schema;
  SparseTableOptions table_options;
  std::unique_ptr<SparseTable> table;
  std::vector<float> params;
  std::vector<float> dice_state;
  std::string header;                  // DIPS-v1 header line
  std::vector<std::string> test_lines;  // data lines (no '\n')
  std::vector<Sample> test_samples;     // test_lines parsed
  int64_t step = 0;                     // dense steps taken
};

// Generates the data and trains for options.train_epochs over it.
StatusOr<Fixture> MakeFixture(const FixtureOptions& options);

// Pushes a random gradient to the rows of `samples`' keys at fixture->step
// + 1 (and advances step): rows change after a checkpoint, for chains.
Status PerturbRows(const std::vector<Sample>& samples, Fixture* fixture);

// Writes checkpoint CheckpointName(fixture.step) under root: one row file
// with the rows updated after `since_step` (-1: full), dense.pb, MANIFEST.
// base: the previous checkpoint's name for an incremental one, else "".
Status WriteFixtureCheckpoint(const Fixture& fixture, const std::string& root,
                              const std::string& base, int64_t since_step);

// Reference probabilities: the trainer's evaluation over `samples` in
// batches of `batch_size`; rows seen fewer than min_count times replaced by
// their initial values (what a min_count-filtered bundle serves).
StatusOr<std::vector<float>> ReferenceScores(const Fixture& fixture,
                                             const std::vector<Sample>& samples, int batch_size,
                                             uint64_t min_count);

// A fresh temporary directory.
std::string TempDir();

}  // namespace testing
}  // namespace dips

#endif  // DIPS_TESTS_PREDICTOR_CHECKPOINT_FIXTURE_H_
