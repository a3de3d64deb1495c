#include "tests/predictor/checkpoint_fixture.h"

#include <stdlib.h>

#include <algorithm>
#include <random>
#include <string_view>

#include "common/adam.h"
#include "ps/checkpoint/checkpoint.h"
#include "ps/checkpoint/file_io.h"
#include "ps/checkpoint/row_file.h"
#include "tests/common/temp_dirs.h"
#include "worker/data/batch_builder.h"
#include "worker/data/log_parser.h"
#include "worker/model/model_spec.h"

namespace dips {
namespace testing {
namespace {

constexpr char kSep = '\x02';

std::string Join(const std::vector<std::string>& ids) {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += kSep;
    out += ids[i];
  }
  return out;
}

std::string Header(const FixtureOptions& o) {
  std::string h = "#dips-v1\tlabel\tuser\titem\tcategory";
  if (o.has_shop) h += "\tshop";
  h += "\titem_history\tcategory_history";
  if (o.has_shop) h += "\tshop_history";
  for (int f = 0; f < o.extra_fields; ++f) h += "\tprofile:f" + std::to_string(f);
  return h;
}

// One data line. Users have three favourite categories; histories are
// mostly from them. Clicks are likely when the target's category is among
// the latest five behaviours (what attention over the history can learn).
std::string MakeLine(const FixtureOptions& o, std::mt19937_64* rng) {
  auto uniform = [rng](int n) { return static_cast<int>((*rng)() % static_cast<uint64_t>(n)); };
  const int user = uniform(1000);
  const int favourites[3] = {user % o.categories, (user * 7 + 3) % o.categories,
                             (user * 13 + 5) % o.categories};
  auto draw_item = [&](bool favourite) {
    const int per_category = std::max(1, o.items / o.categories);
    const int category = favourite ? favourites[uniform(3)] : uniform(o.categories);
    return category + o.categories * uniform(per_category);
  };
  const int length = uniform(o.max_history + 1);
  std::vector<std::string> items, categories, shops;
  std::vector<int> recent;
  for (int t = 0; t < length; ++t) {
    const int item = draw_item(uniform(10) < 8);
    items.push_back("i" + std::to_string(item));
    categories.push_back("c" + std::to_string(item % o.categories));
    shops.push_back("s" + std::to_string(item % 97));
    if (t >= length - 5) recent.push_back(item % o.categories);
  }
  const int target = draw_item(uniform(2) == 0);
  const bool recent_match =
      std::find(recent.begin(), recent.end(), target % o.categories) != recent.end();
  const bool click = uniform(100) < (recent_match ? 80 : 10);
  std::string line = std::string(click ? "1" : "0") + "\tu" + std::to_string(user) + "\ti" +
                     std::to_string(target) + "\tc" + std::to_string(target % o.categories);
  if (o.has_shop) line += "\ts" + std::to_string(target % 97);
  line += "\t" + Join(items) + "\t" + Join(categories);
  if (o.has_shop) line += "\t" + Join(shops);
  for (int f = 0; f < o.extra_fields; ++f) line += "\tv" + std::to_string(uniform(5));
  return line;
}

StatusOr<std::vector<Sample>> Parse(const LogSchema& schema, int max_history,
                                    const std::vector<std::string>& lines) {
  LogParser parser(schema, max_history);
  std::vector<Sample> samples(lines.size());
  std::string detail;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (parser.Parse(lines[i], &samples[i], &detail) != LineError::kOk) {
      return InternalError("fixture line does not parse: " + detail);
    }
  }
  return samples;
}

// SGD would need many more steps to move off the random initialisation.
class DenseAdam {
 public:
  explicit DenseAdam(size_t n) : m_(n, 0.0f), v_(n, 0.0f) {}
  void Step(const float* grads, float* params) {
    AdamStep::For(0.002f, 0.9f, 0.999f, 1e-8f, steps_++)
        .Apply(m_.size(), grads, m_.data(), v_.data(), params);
  }

 private:
  std::vector<float> m_, v_;
  int64_t steps_ = 0;
};

Status Train(const std::vector<Sample>& samples, Fixture* f) {
  ASSIGN_OR_RETURN(std::unique_ptr<Model<float>> model, Model<float>::Create(f->config));
  f->params.resize(model->num_params());
  f->dice_state.resize(model->num_state());
  model->InitParams(f->params.data(), f->options.seed);
  model->InitState(f->dice_state.data());
  BatchBuilderOptions builder_options;
  builder_options.with_negatives = f->config.kind == ModelKind::kDien;
  builder_options.seed = f->options.seed;
  BatchBuilder builder(builder_options);
  DenseAdam adam(f->params.size());
  Batch batch;
  std::vector<float> rows, row_grads, grads(f->params.size());
  const int dim = f->config.embedding_dim;
  for (int epoch = 0; epoch < f->options.train_epochs; ++epoch) {
    for (size_t begin = 0; begin < samples.size(); begin += f->options.train_batch) {
      const int n = static_cast<int>(
          std::min(samples.size() - begin, static_cast<size_t>(f->options.train_batch)));
      builder.Build(samples.data() + begin, n, f->schema, &batch);
      const size_t k = batch.unique_keys.size();
      rows.resize(k * dim);
      RETURN_IF_ERROR(f->table->Pull(batch.unique_keys.data(), k, true, rows.data(), nullptr));
      model->Forward(batch, rows.data(), f->params.data(), f->dice_state.data(), true, nullptr);
      std::fill(grads.begin(), grads.end(), 0.0f);
      row_grads.assign(k * dim, 0.0f);
      model->Backward(batch, rows.data(), f->params.data(), grads.data(), row_grads.data());
      ++f->step;
      RETURN_IF_ERROR(f->table->Push(batch.unique_keys.data(), k, row_grads.data(),
                                     batch.key_counts.data(), f->step));
      adam.Step(grads.data(), f->params.data());
    }
  }
  return Status::OK();
}

}  // namespace

std::string TempDir() { return testing_dirs::MakeTempDir("dips_predictor_test_"); }

StatusOr<Fixture> MakeFixture(const FixtureOptions& options) {
  Fixture f;
  f.options = options;
  f.header = Header(options);
  ASSIGN_OR_RETURN(f.schema, ParseHeader(f.header));
  f.config.kind = options.kind;
  f.config.embedding_dim = options.embedding_dim;
  f.config.mlp_hidden = options.mlp_hidden;
  f.config.num_behaviour_fields = f.schema.num_behaviour_fields();
  f.config.num_extra_fields = f.schema.num_extra_fields();
  f.table_options.dim = options.embedding_dim;
  f.table_options.optimizer.kind = SparseOptimizerKind::kAdam;
  f.table_options.optimizer.learning_rate = 0.003f;
  f.table_options.init_scale = 0.01f;
  f.table_options.init_seed = options.seed * 31 + 7;
  ASSIGN_OR_RETURN(f.table, SparseTable::Create(f.table_options));

  std::mt19937_64 rng(options.seed);
  std::vector<std::string> train_lines;
  for (int i = 0; i < options.train_samples; ++i) train_lines.push_back(MakeLine(options, &rng));
  for (int i = 0; i < options.test_samples; ++i) f.test_lines.push_back(MakeLine(options, &rng));
  ASSIGN_OR_RETURN(std::vector<Sample> train, Parse(f.schema, options.max_history, train_lines));
  ASSIGN_OR_RETURN(f.test_samples, Parse(f.schema, options.max_history, f.test_lines));
  RETURN_IF_ERROR(Train(train, &f));
  return f;
}

Status PerturbRows(const std::vector<Sample>& samples, Fixture* f) {
  BatchBuilder builder{BatchBuilderOptions()};
  Batch batch;
  builder.Build(samples.data(), static_cast<int>(samples.size()), f->schema, &batch);
  std::mt19937_64 rng(f->step);
  std::uniform_real_distribution<float> grad(-0.1f, 0.1f);
  std::vector<float> grads(batch.unique_keys.size() * f->config.embedding_dim);
  for (float& g : grads) g = grad(rng);
  ++f->step;
  return f->table->Push(batch.unique_keys.data(), batch.unique_keys.size(), grads.data(),
                        batch.key_counts.data(), f->step);
}

Status WriteFixtureCheckpoint(const Fixture& f, const std::string& root, const std::string& base,
                              int64_t since_step) {
  const std::string name = CheckpointName(f.step);
  const std::string dir = JoinPath(root, name);
  RETURN_IF_ERROR(MakeDirs(dir));
  ckpt::Manifest manifest;
  manifest.set_format_version(kCheckpointFormatVersion);
  manifest.set_step(f.step);
  manifest.set_incremental(!base.empty());
  manifest.set_base(base);
  manifest.set_since_step(since_step);
  manifest.set_num_shards(1);
  manifest.set_dim(static_cast<uint32_t>(f.config.embedding_dim));
  manifest.set_sparse_optimizer(SparseOptimizerName(f.table_options.optimizer.kind));
  manifest.set_state_floats_per_weight(
      static_cast<uint32_t>(StateFloatsPerWeight(f.table_options.optimizer.kind)));
  *manifest.mutable_model() = ToModelSpec(f.config, f.schema, f.options.max_history);
  manifest.set_init_scale(f.table_options.init_scale);
  manifest.set_init_seed(f.table_options.init_seed);

  RowFileOptions row_options;
  row_options.optimizer = f.table_options.optimizer.kind;
  row_options.since_step = since_step;
  const std::string rows_name = ShardFileName(0, 1);
  ASSIGN_OR_RETURN(RowFileInfo rows, WriteRowFile(*f.table, row_options, JoinPath(dir, rows_name)));
  ckpt::FileEntry* entry = manifest.add_files();
  entry->set_name(rows_name);
  entry->set_bytes(rows.digest.bytes);
  entry->set_crc32(rows.digest.crc32);
  entry->set_rows(rows.rows);

  ckpt::DenseState dense;
  dense.mutable_params()->Add(f.params.begin(), f.params.end());
  dense.mutable_dice_state()->Add(f.dice_state.begin(), f.dice_state.end());
  dense.set_dense_optimizer("adam");
  dense.set_optimizer_steps(f.step);
  ASSIGN_OR_RETURN(FileDigest dense_digest, WriteProtoFile(JoinPath(dir, kDenseFileName), dense));
  entry = manifest.add_files();
  entry->set_name(kDenseFileName);
  entry->set_bytes(dense_digest.bytes);
  entry->set_crc32(dense_digest.crc32);
  return CommitManifest(root, name, manifest);
}

StatusOr<std::vector<float>> ReferenceScores(const Fixture& f, const std::vector<Sample>& samples,
                                             int batch_size, uint64_t min_count) {
  ASSIGN_OR_RETURN(std::unique_ptr<Model<float>> model, Model<float>::Create(f.config));
  std::vector<float> state = f.dice_state;
  BatchBuilder builder{BatchBuilderOptions()};
  Batch batch;
  std::vector<float> rows, probs(samples.size());
  std::vector<uint64_t> counts;
  const int dim = f.config.embedding_dim;
  for (size_t begin = 0; begin < samples.size(); begin += batch_size) {
    const int n = static_cast<int>(std::min(samples.size() - begin, static_cast<size_t>(batch_size)));
    builder.Build(samples.data() + begin, n, f.schema, &batch);
    const size_t k = batch.unique_keys.size();
    rows.resize(k * dim);
    counts.resize(k);
    RETURN_IF_ERROR(f.table->Pull(batch.unique_keys.data(), k, /*create_missing=*/false,
                                  rows.data(), counts.data()));
    for (size_t i = 0; i < k; ++i) {
      if (counts[i] < min_count) {
        InitialRowValues(f.table_options, batch.unique_keys[i], rows.data() + i * dim);
      }
    }
    model->Forward(batch, rows.data(), f.params.data(), state.data(), /*training=*/false,
                   probs.data() + begin);
  }
  return probs;
}

}  // namespace testing
}  // namespace dips
