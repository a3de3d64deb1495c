#include "tools/predictor/predictor.h"

#include <algorithm>
#include <mutex>
#include <utility>

#include "common/thread_annotations.h"
#include "ps/sparse_table.h"
#include "tools/bundle/bundle.h"
#include "worker/data/batch_builder.h"
#include "worker/model/model_spec.h"

namespace dips {
namespace {

// What one Score call needs for itself.
struct Workspace {
  std::unique_ptr<Model<float>> model;
  BatchBuilder builder{BatchBuilderOptions()};
  Batch batch;
  std::vector<float> rows;
  // Forward(training=false) only reads the Dice statistics, but takes them
  // through a mutable pointer: each workspace reads its own copy, so no
  // caller can ever see another's writes.
  std::vector<float> state;
  std::vector<Sample> cut;  // samples whose histories had to be shortened
};

Status CheckSample(const Sample& s, const LogSchema& schema, size_t index) {
  const size_t length = s.item_history.size();
  const size_t shop_length = schema.has_shop ? length : 0;
  if (s.category_history.size() != length || s.shop_history.size() != shop_length ||
      s.extra_keys.size() != schema.extra_fields.size()) {
    return InvalidArgumentError(
        "sample " + std::to_string(index) + " does not match the model's input schema (" +
        std::to_string(length) + " items, " + std::to_string(s.category_history.size()) +
        " categories, " + std::to_string(s.shop_history.size()) + " shops in its history, " +
        std::to_string(s.extra_keys.size()) + " extra keys; the model wants " +
        (schema.has_shop ? "shops" : "no shops") + " and " +
        std::to_string(schema.extra_fields.size()) + " extra keys)");
  }
  return Status::OK();
}

// Keeps the most recent `max_history` behaviours, as LogParser does.
void CutHistory(int max_history, Sample* s) {
  const size_t keep = static_cast<size_t>(max_history);
  for (std::vector<uint64_t>* h : {&s->item_history, &s->category_history, &s->shop_history}) {
    if (h->size() > keep) h->erase(h->begin(), h->end() - static_cast<long>(keep));
  }
}

class PredictorImpl : public Predictor {
 public:
  PredictorImpl(LoadedBundle bundle, const PredictorOptions& options)
      : options_(options),
        manifest_(std::move(bundle.manifest)),
        config_(bundle.config),
        schema_(SchemaFromModelSpec(bundle.dense.model())),
        max_history_(bundle.dense.model().max_history()),
        params_(bundle.dense.params().begin(), bundle.dense.params().end()),
        dice_state_(bundle.dense.dice_state().begin(), bundle.dense.dice_state().end()),
        rows_(std::move(bundle.rows)) {
    initial_.dim = config_.embedding_dim;
    initial_.init_scale = manifest_.init_scale();
    initial_.init_seed = manifest_.init_seed();
  }

  Status Score(const Sample* samples, size_t n, float* probs) override {
    for (size_t i = 0; i < n; ++i) RETURN_IF_ERROR(CheckSample(samples[i], schema_, i));
    if (n == 0) return Status::OK();
    ASSIGN_OR_RETURN(std::unique_ptr<Workspace> ws, Acquire());
    for (size_t begin = 0; begin < n; begin += static_cast<size_t>(options_.max_batch)) {
      const size_t count = std::min(n - begin, static_cast<size_t>(options_.max_batch));
      ScoreBatch(Cut(samples + begin, count, ws.get()), static_cast<int>(count), ws.get(),
                 probs + begin);
    }
    Release(std::move(ws));
    return Status::OK();
  }

  const LogSchema& schema() const override { return schema_; }
  int max_history() const override { return max_history_; }
  const ModelConfig& config() const override { return config_; }
  const bundle::BundleManifest& manifest() const override { return manifest_; }

 private:
  StatusOr<std::unique_ptr<Workspace>> Acquire() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!idle_.empty()) {
        std::unique_ptr<Workspace> ws = std::move(idle_.back());
        idle_.pop_back();
        return ws;
      }
    }
    auto ws = std::make_unique<Workspace>();
    ASSIGN_OR_RETURN(ws->model, Model<float>::Create(config_));
    ws->state = dice_state_;
    return ws;
  }

  void Release(std::unique_ptr<Workspace> ws) {
    std::lock_guard<std::mutex> lock(mu_);
    idle_.push_back(std::move(ws));
  }

  // samples, or a copy with histories cut to max_history_ when any is longer.
  const Sample* Cut(const Sample* samples, size_t n, Workspace* ws) const {
    const bool too_long = std::any_of(samples, samples + n, [this](const Sample& s) {
      return s.history_length() > max_history_;
    });
    if (!too_long) return samples;
    ws->cut.assign(samples, samples + n);
    for (Sample& s : ws->cut) CutHistory(max_history_, &s);
    return ws->cut.data();
  }

  void ScoreBatch(const Sample* samples, int n, Workspace* ws, float* probs) const {
    Batch& batch = ws->batch;
    ws->builder.Build(samples, n, schema_, &batch);
    const size_t dim = static_cast<size_t>(config_.embedding_dim);
    ws->rows.resize(batch.unique_keys.size() * dim);
    for (size_t k = 0; k < batch.unique_keys.size(); ++k) {
      float* row = ws->rows.data() + k * dim;
      if (!rows_->Lookup(batch.unique_keys[k], row)) {
        InitialRowValues(initial_, batch.unique_keys[k], row);
      }
    }
    ws->model->Forward(batch, ws->rows.data(), params_.data(), ws->state.data(),
                       /*training=*/false, probs);
  }

  const PredictorOptions options_;
  const bundle::BundleManifest manifest_;
  const ModelConfig config_;
  const LogSchema schema_;
  const int max_history_;
  const std::vector<float> params_;
  const std::vector<float> dice_state_;
  const std::unique_ptr<EmbeddingFile> rows_;
  SparseTableOptions initial_;  // dim and init parameters of absent rows

  std::mutex mu_;
  std::vector<std::unique_ptr<Workspace>> idle_ GUARDED_BY(mu_);
};

}  // namespace

StatusOr<std::unique_ptr<Predictor>> Predictor::Open(const std::string& bundle_dir,
                                                     const PredictorOptions& options) {
  if (options.max_batch < 1) return InvalidArgumentError("max_batch must be >= 1");
  ASSIGN_OR_RETURN(LoadedBundle bundle, LoadBundle(bundle_dir));
  return std::unique_ptr<Predictor>(new PredictorImpl(std::move(bundle), options));
}

}  // namespace dips
