// Predictor latency and throughput (tools/predictor/predictor.h) for DIN and
// DIEN bundles, plus the AUC change of fp16 rows. Each model is trained
// briefly in-process on the fixture's synthetic logs (tests/predictor/
// checkpoint_fixture.h: embedding 18, histories up to --max_history, head
// 200-80), checkpointed, exported as fp32 and fp16 bundles and loaded with
// the Predictor. Latency is one Score call on one thread, over consecutive
// test samples.
//   build/bench/predict_bench [--train_samples=N --test_samples=N --max_history=50]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <vector>

#include <gflags/gflags.h>
#include <glog/logging.h>

#include "tests/predictor/checkpoint_fixture.h"
#include "tools/bundle/export.h"
#include "tools/predictor/predictor.h"
#include "worker/train/metrics.h"

DEFINE_int32(train_samples, 20000, "samples to train each model on");
DEFINE_int32(test_samples, 4096, "samples scored for the AUC and the latency runs");
DEFINE_int32(max_history, 50, "longest history");
DEFINE_double(seconds_per_size, 3.0, "time spent measuring each batch size");

namespace dips {
namespace {

void Check(const Status& status) { CHECK(status.ok()) << status.ToString(); }

std::unique_ptr<Predictor> ExportAndOpen(const std::string& root, bundle::RowPrecision precision) {
  ExportOptions options;
  options.checkpoint = root;
  options.out_dir = testing::TempDir() + "/bundle";
  options.precision = precision;
  Check(ExportBundle(options).status());
  auto predictor = Predictor::Open(options.out_dir, PredictorOptions());
  Check(predictor.status());
  return std::move(predictor).value();
}

double Percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

void RunModel(ModelKind kind) {
  testing::FixtureOptions options;
  options.kind = kind;
  options.train_samples = FLAGS_train_samples;
  options.test_samples = FLAGS_test_samples;
  options.max_history = FLAGS_max_history;
  options.items = 20000;
  options.train_epochs = 2;
  auto fixture = testing::MakeFixture(options);
  Check(fixture.status());
  const std::string root = testing::TempDir();
  Check(testing::WriteFixtureCheckpoint(*fixture, root, "", -1));
  auto fp32 = ExportAndOpen(root, bundle::ROW_PRECISION_FP32);
  auto fp16 = ExportAndOpen(root, bundle::ROW_PRECISION_FP16);

  const std::vector<Sample>& samples = fixture->test_samples;
  std::vector<float> p32, p16, labels;
  Check(fp32->Score(samples, &p32));
  Check(fp16->Score(samples, &p16));
  for (const Sample& s : samples) labels.push_back(s.label);
  float max_diff = 0.0f;
  for (size_t i = 0; i < p32.size(); ++i) max_diff = std::max(max_diff, std::fabs(p32[i] - p16[i]));
  const double auc32 = ComputeAuc(p32.data(), labels.data(), labels.size());
  const double auc16 = ComputeAuc(p16.data(), labels.data(), labels.size());
  std::printf("%s: %zu rows; test AUC fp32 %.6f, fp16 %.6f (change %+.2e); max |p16 - p32| %.2e\n",
              ModelKindName(kind), static_cast<size_t>(fp32->manifest().rows()), auc32, auc16,
              auc16 - auc32, max_diff);

  std::printf("| model | batch | p50 ms | p99 ms | samples/s |\n|---|---|---|---|---|\n");
  std::vector<float> probs(256);
  for (int batch : {1, 32, 256}) {
    std::vector<double> ms;
    size_t next = 0;
    double total = 0.0;
    Check(fp32->Score(samples.data(), batch, probs.data()));  // warm the workspace
    while (total < FLAGS_seconds_per_size * 1000.0 || ms.size() < 100) {
      if (next + batch > samples.size()) next = 0;
      const auto start = std::chrono::steady_clock::now();
      Check(fp32->Score(samples.data() + next, batch, probs.data()));
      const double took =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      ms.push_back(took);
      total += took;
      next += batch;
    }
    std::printf("| %s | %d | %.3f | %.3f | %.0f |\n", ModelKindName(kind), batch,
                Percentile(ms, 0.5), Percentile(ms, 0.99),
                1000.0 * batch * static_cast<double>(ms.size()) / total);
  }
}

}  // namespace
}  // namespace dips

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);
  dips::RunModel(dips::ModelKind::kDin);
  dips::RunModel(dips::ModelKind::kDien);
  return 0;
}
