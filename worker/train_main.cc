// `dips train`: single-process training of Base, DIN or DIEN. Flags are
// read here and only here, and turned into TrainerOptions.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <gflags/gflags.h>
#include <glog/logging.h>

#include "tools/subcommands.h"
#include "worker/train_flags.h"

DECLARE_uint64(seed);        // tools/common_flags.cc
DECLARE_int32(max_history);  // tools/common_flags.cc

DEFINE_string(model, "din", "Model: base, din or dien");
DEFINE_string(train, "", "Training log files, comma-separated (DIEN or DIPS-v1 format, .gz ok)");
DEFINE_string(test, "", "Test log files, comma-separated; empty = no evaluation");
DEFINE_int32(epochs, 1, "Passes over the training data");
DEFINE_int32(batch_size, 128, "Samples per batch (per replica thread)");
DEFINE_int32(threads, 1, "Data-parallel replica threads");
DEFINE_string(device, "cpu",
              "Where forward/backward passes run: cpu, or cuda (GPU 0, in a build with the CUDA "
              "backend; rows, dense parameters and optimisers stay on the host)");
DEFINE_int32(shuffle_buffer, 100000, "Training samples held in the shuffle buffer (0: file order)");
DEFINE_int32(embedding_dim, 18, "Embedding size per id field");
DEFINE_double(max_bad_ratio, 0.001, "Abort when the fraction of malformed lines passes this");
DEFINE_string(mlp_activation, "dice", "Head MLP activation: dice or prelu");
DEFINE_string(attention_activation, "prelu",
              "Attention MLP activation: prelu (DIN paper), dice, or sigmoid (reference code)");
DEFINE_bool(din_softmax, false, "DIN: masked softmax over attention scores (reference code)");
DEFINE_string(evolution, "augru",
              "DIEN interest evolution: augru (paper), agru, aigru, or augru_reference (the "
              "reference code's AUGRU: attention raises the update gate)");
DEFINE_double(aux_loss_weight, 1.0, "DIEN auxiliary loss weight alpha (0 disables)");
DEFINE_bool(dien_query_projection, false,
            "DIEN: project the attention query, v_A' = PReLU(v_A W + b) (reference code)");
DEFINE_string(aux_net, "mlp", "DIEN auxiliary scorer: mlp or inner_product");
DEFINE_string(dien_extractor_init, "copy",
              "DIEN interest extractor start: copy (h_t a running average of tanh(e_t), "
              "docs/models.md) or glorot");
DEFINE_double(dien_extractor_update_bias, 3.0, "DIEN extractor update-gate bias with init=copy");
DEFINE_double(dien_extractor_lr_scale, 0.1,
              "DIEN extractor's dense learning rate, as a multiple of --dense_lr");
DEFINE_string(dense_optimizer, "adam", "Dense optimiser: adam or sgd");
DEFINE_double(dense_lr, 0.002, "Dense learning rate");
DEFINE_string(sparse_optimizer, "adam", "Embedding optimiser: sgd, adagrad, adam or ftrl");
DEFINE_double(sparse_lr, 0.003, "Embedding learning rate");
DEFINE_double(init_scale, 0.01, "New embedding rows: uniform in [-init_scale, init_scale]");
DEFINE_double(mba_lambda, -1,
              "Mini-batch-aware L2 regularisation strength; negative: the model's default, 0.05 "
              "for base and din, 0.15 for dien (DIN paper: 0.01)");
DEFINE_int64(eval_every_steps, 0, "Evaluate every N steps (0: after each epoch)");
DEFINE_int64(max_steps, 0, "Stop after N steps (0: no limit)");
DEFINE_string(metrics_out, "",
              "Append one JSON line per evaluation to this file (its directory is created)");
DEFINE_double(log_every_seconds, 10, "Seconds between progress log lines (non-TTY)");
DEFINE_double(table_memory_gb, 0,
              "Embedding rows kept in memory, in GiB (per server in a distributed job); the "
              "rest live in RocksDB under --table_dir. 0: every row in memory");
DEFINE_string(table_dir, "",
              "RocksDB directory of the rows that do not fit --table_memory_gb (a server "
              "uses <dir>/shard-<index>); wiped at start");
DEFINE_int32(table_block_cache_mb, 512, "RocksDB block cache of the row tier, MiB");
DEFINE_int32(table_admit_after, 1,
             "A key gets a trainable row on its Nth sighting (1: at once); before that it "
             "reads a zero row and its gradients are dropped");
DEFINE_int64(table_ttl_steps, -1,
             "Shrink passes remove rows not pushed for this many steps (-1: never)");
DEFINE_uint64(table_min_count, 0, "Shrink passes remove rows seen fewer times (0: never)");
DEFINE_double(table_shrink_every_s, 0, "Seconds between shrink passes (0: none)");
DEFINE_double(table_stats_every_s, 60, "Seconds between table stats log lines (0: none)");
DEFINE_string(checkpoint_dir, "",
              "Write checkpoints under this directory (a path every rank shares in a "
              "distributed job); empty: no checkpoints");
DEFINE_int64(checkpoint_every_steps, 0,
             "Checkpoint every N steps as well as at the end (0: only at the end)");
DEFINE_double(checkpoint_every_seconds, 0,
              "Also checkpoint once this many seconds passed since the previous checkpoint "
              "(0: no time rule); the workers of a distributed job decide together, so all "
              "checkpoint at the same step");
DEFINE_int32(keep_checkpoints, 3, "Complete checkpoints kept (plus the chains they need)");
DEFINE_int32(full_checkpoint_every, 4,
             "Every Nth checkpoint is full, the others hold only rows changed since the "
             "previous one (1: always full)");
DEFINE_bool(resume, false,
            "Continue from the newest intact checkpoint under --checkpoint_dir (start fresh "
            "if there is none)");
DEFINE_int32(checkpoint_timeout_s, 1800,
             "Bound on writing one checkpoint and, when resuming, on verifying and loading one");

namespace dips {
namespace {

std::vector<std::string> SplitCommas(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = s.find(',', start);
    const size_t end = comma == std::string::npos ? s.size() : comma;
    if (end > start) out.push_back(s.substr(start, end - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

StatusOr<TrainerOptions> TrainerOptionsFromFlags() {
  TrainerOptions o;
  ASSIGN_OR_RETURN(o.model.kind, ParseModelKind(FLAGS_model));
  StatusOr<ModelDevice> device = ParseModelDevice(FLAGS_device);
  if (!device.ok()) return InvalidArgumentError("--device: " + device.status().message());
  o.device = *device;
  o.model.embedding_dim = FLAGS_embedding_dim;
  ASSIGN_OR_RETURN(o.model.mlp_activation, ParseHiddenActivation(FLAGS_mlp_activation));
  ASSIGN_OR_RETURN(o.model.attention_activation, ParseHiddenActivation(FLAGS_attention_activation));
  o.model.din_softmax = FLAGS_din_softmax;
  ASSIGN_OR_RETURN(o.model.evolution, ParseEvolutionKind(FLAGS_evolution));
  o.model.aux_loss_weight = static_cast<float>(FLAGS_aux_loss_weight);
  ASSIGN_OR_RETURN(o.model.aux_net, ParseAuxNetKind(FLAGS_aux_net));
  o.model.dien_query_projection = FLAGS_dien_query_projection;
  ASSIGN_OR_RETURN(o.model.dien_extractor_init, ParseExtractorInit(FLAGS_dien_extractor_init));
  o.model.dien_extractor_update_bias = static_cast<float>(FLAGS_dien_extractor_update_bias);
  o.model.dien_extractor_lr_scale = static_cast<float>(FLAGS_dien_extractor_lr_scale);
  o.train_files = SplitCommas(FLAGS_train);
  o.test_files = SplitCommas(FLAGS_test);
  if (o.train_files.empty()) return InvalidArgumentError("--train is required");
  o.reader.max_history = FLAGS_max_history;
  o.reader.max_bad_ratio = FLAGS_max_bad_ratio;
  o.epochs = FLAGS_epochs;
  o.batch_size = FLAGS_batch_size;
  o.threads = FLAGS_threads;
  o.shuffle_buffer = FLAGS_shuffle_buffer;
  o.seed = FLAGS_seed;
  ASSIGN_OR_RETURN(o.dense_optimizer.kind, ParseDenseOptimizerKind(FLAGS_dense_optimizer));
  o.dense_optimizer.learning_rate = static_cast<float>(FLAGS_dense_lr);
  ASSIGN_OR_RETURN(o.table.optimizer.kind, ParseSparseOptimizerKind(FLAGS_sparse_optimizer));
  o.table.optimizer.learning_rate = static_cast<float>(FLAGS_sparse_lr);
  o.table.init_scale = static_cast<float>(FLAGS_init_scale);
  o.table.init_seed = FLAGS_seed;
  o.mba_lambda = static_cast<float>(FLAGS_mba_lambda);
  o.eval_every_steps = FLAGS_eval_every_steps;
  o.max_steps = FLAGS_max_steps;
  o.metrics_out = FLAGS_metrics_out;
  o.log_every_seconds = FLAGS_log_every_seconds;
  o.progress_line = isatty(STDERR_FILENO) != 0;
  if (FLAGS_table_memory_gb < 0) return InvalidArgumentError("--table_memory_gb must be >= 0");
  o.table_memory_budget_bytes = static_cast<uint64_t>(FLAGS_table_memory_gb * (1ull << 30));
  if (o.table_memory_budget_bytes > 0) {
    if (FLAGS_table_dir.empty()) return InvalidArgumentError("--table_memory_gb needs --table_dir");
    o.table.num_stripes = 256;  // the tiered table reads a stripe's misses under its lock
  }
  o.table_rocksdb.dir = FLAGS_table_dir;
  o.table_rocksdb.block_cache_bytes = static_cast<uint64_t>(FLAGS_table_block_cache_mb) << 20;
  o.table.admit_after = FLAGS_table_admit_after;
  o.table_maintenance.name = "embeddings";
  o.table_maintenance.stats_every_seconds = FLAGS_table_stats_every_s;
  o.table_maintenance.shrink_every_seconds = FLAGS_table_shrink_every_s;
  o.table_maintenance.shrink.ttl_steps = FLAGS_table_ttl_steps;
  o.table_maintenance.shrink.min_count = FLAGS_table_min_count;
  o.checkpoint.dir = FLAGS_checkpoint_dir;
  o.checkpoint.every_steps = FLAGS_checkpoint_every_steps;
  o.checkpoint.every_seconds = FLAGS_checkpoint_every_seconds;
  o.checkpoint.keep = FLAGS_keep_checkpoints;
  o.checkpoint.full_every = FLAGS_full_checkpoint_every;
  o.checkpoint.resume = FLAGS_resume;
  o.checkpoint.timeout = std::chrono::seconds(FLAGS_checkpoint_timeout_s);
  if (o.checkpoint.every_steps < 0) return InvalidArgumentError("--checkpoint_every_steps must be >= 0");
  if (!(o.checkpoint.every_seconds >= 0) || std::isinf(o.checkpoint.every_seconds)) {
    return InvalidArgumentError("--checkpoint_every_seconds must be finite and >= 0");
  }
  if (o.checkpoint.keep < 1) return InvalidArgumentError("--keep_checkpoints must be >= 1");
  if (o.checkpoint.full_every < 1) return InvalidArgumentError("--full_checkpoint_every must be >= 1");
  if (FLAGS_checkpoint_timeout_s < 1) return InvalidArgumentError("--checkpoint_timeout_s must be >= 1");
  if (FLAGS_table_shrink_every_s > 0 && o.checkpoint.full_every != 1) {
    // An incremental checkpoint cannot say which rows a shrink removed, so
    // restoring a chain would bring them back (docs/checkpoints.md).
    LOG(INFO) << "shrink passes are on: every checkpoint is full";
    o.checkpoint.full_every = 1;
  }
  if (o.checkpoint.resume && o.checkpoint.dir.empty()) {
    return InvalidArgumentError("--resume needs --checkpoint_dir");
  }
  return o;
}

Status CheckDeviceFlag(const TrainerOptions& options) {
  const Status s = CheckModelDevice(options.device);
  if (s.ok()) return s;
  return Status(s.code(), std::string("--device=") + ModelDeviceName(options.device) + ": " +
                              s.message());
}

void PrintTrainReport(const TrainReport& report, const TrainerOptions& options) {
  const EvalMetrics& m = report.final_metrics;
  std::printf(
      "model=%s steps=%lld samples=%lld train_samples_per_sec=%.1f job_samples_per_sec=%.1f "
      "train_loss=%.5f train_seconds=%.2f feed_seconds=%.2f pass_start_seconds=%.2f "
      "steady_samples_per_sec=%.1f\n",
      ModelKindName(options.model.kind), static_cast<long long>(report.steps),
      static_cast<long long>(report.samples), report.samples_per_second,
      report.job_samples_per_second, report.final_train_loss, report.train_seconds,
      report.feed_seconds, report.pass_start_seconds, report.steady_samples_per_second);
  if (!options.test_files.empty()) {
    std::printf("test_auc=%.4f test_gauc=%.4f test_logloss=%.4f test_samples=%lld\n", m.auc,
                m.gauc, m.logloss, static_cast<long long>(m.samples));
  }
  std::fflush(stdout);
}

int RunTrain(int argc, char** argv) {
  if (argc > 1) {
    LOG(ERROR) << "dips train takes no positional arguments (got '" << argv[1] << "')";
    return 2;
  }
  StatusOr<TrainerOptions> options = TrainerOptionsFromFlags();
  if (!options.ok()) {
    LOG(ERROR) << options.status().ToString();
    return 2;
  }
  // Before reading any data: a missing GPU is a clear error, not a crash.
  const Status device = CheckDeviceFlag(*options);
  if (!device.ok()) {
    LOG(ERROR) << device.message();
    return 1;
  }
  StatusOr<std::unique_ptr<Trainer>> trainer = Trainer::Create(*options);
  if (!trainer.ok()) {
    LOG(ERROR) << trainer.status().ToString();
    return 1;
  }
  StatusOr<TrainReport> report = (*trainer)->Train();
  if (!report.ok()) {
    LOG(ERROR) << report.status().ToString();
    return 1;
  }
  PrintTrainReport(*report, *options);
  return 0;
}

}  // namespace dips
