// Model: Base, DIN or DIEN over one mini-batch. The model owns no
// parameters: dense parameters live in one flat buffer (layout() names the
// views), embedding rows come from the parameter servers, and Dice moving
// statistics live in a separate flat "state" buffer (not trained; averaged,
// not summed, across replicas). The model object holds only the saved
// activations of its last forward pass, so each training thread owns one
// Model and they share the parameter buffer read-only during a step.
//
// Templated on the scalar: float for training, double for the
// finite-difference tests.
#ifndef DIPS_WORKER_MODEL_MODEL_H_
#define DIPS_WORKER_MODEL_MODEL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "worker/data/batch.h"
#include "worker/model/layers/attention_unit.h"
#include "worker/model/layers/aux_loss.h"

namespace dips {

enum class ModelKind { kBase, kDin, kDien };
// kAugruReference: the reference code's AUGRU, where attention raises the
// update gate instead of scaling it (gru.h, GruVariant).
enum class EvolutionKind { kAugru, kAgru, kAigru, kAugruReference };
// How DIEN's interest extractor starts (docs/models.md, "How DIEN's interest
// extractor starts"). kCopy: candidate input weights = identity, recurrent weights 0,
// update-gate bias ModelConfig::dien_extractor_update_bias, so h_t starts as
// a running average of tanh(e_t), in the coordinates of the embeddings the
// attention compares it with. kGlorot: Glorot, like every other GRU.
enum class ExtractorInit { kCopy, kGlorot };

StatusOr<ModelKind> ParseModelKind(const std::string& name);
const char* ModelKindName(ModelKind kind);
StatusOr<HiddenActivation> ParseHiddenActivation(const std::string& name);
const char* HiddenActivationName(HiddenActivation activation);
StatusOr<EvolutionKind> ParseEvolutionKind(const std::string& name);
const char* EvolutionKindName(EvolutionKind kind);
// "mlp" | "inner_product" (the --aux_net flag's values).
StatusOr<AuxNetKind> ParseAuxNetKind(const std::string& name);
const char* AuxNetKindName(AuxNetKind kind);
// "copy" | "glorot" (the --dien_extractor_init flag's values).
StatusOr<ExtractorInit> ParseExtractorInit(const std::string& name);
const char* ExtractorInitName(ExtractorInit init);

struct ModelConfig {
  ModelKind kind = ModelKind::kDin;
  int embedding_dim = 18;        // d, per id field
  int num_behaviour_fields = 2;  // F: item, category [, shop] (LogSchema)
  int num_extra_fields = 0;      // P: profile/context fields (LogSchema)
  std::vector<int> mlp_hidden = {200, 80};
  HiddenActivation mlp_activation = HiddenActivation::kDice;
  // DIN activation unit (and DIEN's attention).
  int attention_hidden1 = 80;
  int attention_hidden2 = 40;
  // PReLU (DIN paper). The reference code's sigmoid is a flag: measured on
  // the synthetic data it learns far more slowly (docs/results.md).
  HiddenActivation attention_activation = HiddenActivation::kPrelu;
  bool din_softmax = false;  // DIN: masked softmax of scores (reference code)
  // DIEN.
  EvolutionKind evolution = EvolutionKind::kAugru;
  float aux_loss_weight = 1.0f;  // alpha; 0 disables the auxiliary loss
  AuxNetKind aux_net = AuxNetKind::kMlp;
  int aux_hidden1 = 100;  // auxiliary MLP g: [h_t, e] -> 100 -> 50 -> 1
  int aux_hidden2 = 50;
  // Attention query v_A' = PReLU(v_A W_q + b_q) (W_q [D x H], alpha 0.1), as
  // the reference code's din_fcn_attention does even though H = D there. It
  // lets the unit match h_t against any linear map of v_A (a full bilinear
  // h^T M v through h_t * v_A'), not only elementwise. MODELS.md projects
  // only when sizes differ, so this is off by default.
  bool dien_query_projection = false;
  // The interest extractor's start and its dense learning rate (a multiple
  // of the dense rate). Trained from Glorot at the full rate, the extractor
  // loses h_t's correspondence with v_A before the attention has learned to
  // use it (docs/results.md, "Why DIEN's attention does not learn here");
  // training-only, not part of the saved model spec.
  ExtractorInit dien_extractor_init = ExtractorInit::kCopy;
  float dien_extractor_update_bias = 3.0f;  // kCopy: b_u, sigma(3) = 0.95
  float dien_extractor_lr_scale = 0.1f;     // >= 0
  // Dice.
  double dice_momentum = 0.99;
  double dice_eps = 1e-8;

  int behaviour_dim() const { return num_behaviour_fields * embedding_dim; }  // D
};

// OK when every size is positive and every rate in range; what Create checks.
Status ValidateModelConfig(const ModelConfig& config);

// A named view into the flat parameter buffer.
struct ParamView {
  std::string name;
  size_t offset = 0;
  size_t size = 0;
  float lr_scale = 1.0f;  // this view's dense learning rate, as a multiple of the optimiser's
};

template <typename T>
class Model {
 public:
  static StatusOr<std::unique_ptr<Model<T>>> Create(const ModelConfig& config);
  virtual ~Model() = default;

  virtual const ModelConfig& config() const = 0;
  virtual const std::vector<ParamView>& layout() const = 0;
  // Named views into the state buffer (Dice moving means and variances).
  virtual const std::vector<ParamView>& state_layout() const = 0;
  virtual size_t num_params() const = 0;
  virtual size_t num_state() const = 0;

  // Deterministic initialisation from `seed`: Glorot-uniform weight
  // matrices, zero biases, PReLU alphas 0.1, Dice alphas 0 (reference code);
  // docs/models.md lists every view. Float and double get the same values
  // up to rounding. InitState: Dice moving means 0, variances 1.
  virtual void InitParams(T* params, uint64_t seed) const = 0;
  virtual void InitState(T* state) const = 0;

  // Forward pass on `batch`. rows: [batch.num_unique_keys() x embedding_dim]
  // embedding rows in batch.unique_keys order. Writes the click
  // probabilities to probs [batch.size] (unless null) and returns the loss (mean target
  // BCE + aux_loss_weight * aux loss when training a DIEN with negatives).
  // training: Dice uses batch statistics and updates the moving statistics
  // in `state` (which it never reads, so the loss of a training pass does not
  // depend on earlier passes); otherwise it reads them and changes nothing.
  // The batch must match the config (F, P) and be well formed (CHECKed: a
  // malformed batch is a bug in the batch builder).
  virtual T Forward(const Batch& batch, const T* rows, const T* params, T* state, bool training,
                    T* probs) = 0;

  // Backward of the last Forward (which must have had training = true) for
  // the same batch/rows/params. Accumulates (+=) into param_grads
  // [num_params] and row_grads [num_unique_keys x embedding_dim].
  virtual void Backward(const Batch& batch, const T* rows, const T* params, T* param_grads,
                        T* row_grads) = 0;

  // Loss parts of the last Forward.
  virtual T last_target_loss() const = 0;
  virtual T last_aux_loss() const = 0;

  // Multiply-add FLOPs (2 per multiply-add) of the matrix products of one
  // forward + backward on `batch`, for throughput reporting.
  virtual double TrainingFlops(const Batch& batch) const = 0;

  // OK, or the first failure of a backend that can fail for reasons outside
  // the program (the CUDA model: a device error, out of device memory).
  // After a failure Forward returns NaN, writes no outputs, and Backward
  // accumulates nothing; callers check this once per step. The CPU models
  // cannot fail and always return OK.
  virtual Status status() const { return Status::OK(); }
};

// Mini-batch-aware L2 regularisation (DIN paper 5.1): for each row k present
// in the batch adds lambda / n_k * ||w_k||^2 to the returned penalty and
// 2 lambda / n_k * w_k to row_grads[k]; n_k = counts[k] (occurrences so far,
// including this batch; values < 1 are treated as 1).
template <typename T>
T mba_regularization(T* row_grads, const T* rows, const uint64_t* counts, int num_rows, int dim,
                     T lambda);

}  // namespace dips

#endif  // DIPS_WORKER_MODEL_MODEL_H_
