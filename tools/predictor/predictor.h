// Predictor: scores Base/DIN/DIEN samples with a serving bundle
// (tools/bundle/bundle.h, docs/serving.md), exactly as the trainer
// evaluates: rows looked up by key (keys absent from the bundle get their
// initial values, InitialRowValues under the bundle's init_scale/init_seed,
// as an evaluation pull with create_missing=false gives them), Dice with its
// moving statistics, no negatives.
//
// Thread-safe: Score may be called from any number of threads at once. Each
// call borrows a workspace (a Model's activation buffers, a batch builder,
// row scratch) from a pool that grows to the number of concurrent callers;
// the dense parameters and the mapped rows are shared read-only.
#ifndef DIPS_TOOLS_PREDICTOR_PREDICTOR_H_
#define DIPS_TOOLS_PREDICTOR_PREDICTOR_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "proto/bundle.pb.h"
#include "worker/data/sample.h"
#include "worker/model/model.h"

namespace dips {

struct PredictorOptions {
  // Score runs the model on at most this many samples at a time; larger
  // inputs are split. Every sample is scored on its own, so scores depend
  // on it only through the matrix kernels' summation order (~1e-7). >= 1.
  int max_batch = 256;
};

class Predictor {
 public:
  // Loads the bundle in bundle_dir, verifying every file's checksum first.
  // NotFound when the directory holds no bundle; Corruption (naming the
  // file) for any damage; InvalidArgument for bad options.
  static StatusOr<std::unique_ptr<Predictor>> Open(const std::string& bundle_dir,
                                                   const PredictorOptions& options);
  virtual ~Predictor() = default;

  // Click probabilities of samples[0, n) into probs[0, n). Samples are what
  // LogParser produces under schema(): a shop history iff the schema has
  // shops, item/category/shop histories of one length, one extra key per
  // extra field; histories longer than max_history() are cut to their most
  // recent max_history() behaviours, as the training reader cuts them.
  // InvalidArgument for a sample that breaks the schema (nothing is scored).
  virtual Status Score(const Sample* samples, size_t n, float* probs) = 0;
  Status Score(const std::vector<Sample>& samples, std::vector<float>* probs) {
    probs->resize(samples.size());
    return Score(samples.data(), samples.size(), probs->data());
  }

  // The input schema and history cut the model was trained with.
  virtual const LogSchema& schema() const = 0;
  virtual int max_history() const = 0;
  virtual const ModelConfig& config() const = 0;
  virtual const bundle::BundleManifest& manifest() const = 0;
};

}  // namespace dips

#endif  // DIPS_TOOLS_PREDICTOR_PREDICTOR_H_
