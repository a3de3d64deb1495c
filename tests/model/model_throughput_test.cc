// Training throughput of float DIN and DIEN at the reference shape (B=128,
// T=100, d=18, F=2, every history full, negatives for DIEN), run the way the
// trainer is meant to use the models: one Model per training thread, all
// sharing one read-only parameter buffer, BLAS single-threaded (parallelism
// comes from the threads, not from splitting 128-row GEMMs). Prints
// samples/s for 1 and 2 threads and the matrix-product GFLOP/s, for
// comparison with the targets (DIN >= 5,000 and DIEN >= 1,000 samples/s on 2
// cores). Asserts only that every step yields finite losses and gradients:
// timings depend on the machine and its load.
#include <cblas.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "tests/model/test_batches.h"
#include "worker/model/model.h"

namespace dips {
namespace {

constexpr double kSecondsPerRun = 1.5;

// One training thread: its own model, gradients and state.
struct Replica {
  std::unique_ptr<Model<float>> model;
  std::vector<float> state, param_grads, row_grads, probs;
  int steps = 0;
  bool finite = true;
};

void Measure(ModelKind kind, int threads) {
  testing::BatchSpec spec;
  spec.lengths.assign(128, 100);
  spec.max_length = 100;
  spec.fields = 2;
  spec.extra_fields = 0;
  spec.num_keys = 20000;
  spec.negatives = kind == ModelKind::kDien;
  const Batch batch = testing::MakeBatch(spec);

  ModelConfig c;
  c.kind = kind;
  c.embedding_dim = 18;
  c.num_behaviour_fields = 2;
  std::vector<Replica> replicas(threads);
  for (Replica& r : replicas) {
    auto created = Model<float>::Create(c);
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    r.model = std::move(created).value();
    r.state.resize(r.model->num_state());
    r.model->InitState(r.state.data());
  }
  const Model<float>& first = *replicas[0].model;
  std::vector<float> params(first.num_params());
  first.InitParams(params.data(), 1);
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<float> u(-0.05f, 0.05f);
  std::vector<float> rows(static_cast<size_t>(batch.num_unique_keys()) * c.embedding_dim);
  for (float& r : rows) r = u(rng);

  auto step = [&](Replica* r) {
    r->param_grads.assign(params.size(), 0.0f);
    r->row_grads.assign(rows.size(), 0.0f);
    r->probs.resize(batch.size);
    const float loss = r->model->Forward(batch, rows.data(), params.data(), r->state.data(), true,
                                         r->probs.data());
    r->model->Backward(batch, rows.data(), params.data(), r->param_grads.data(),
                       r->row_grads.data());
    r->finite = r->finite && std::isfinite(loss);
  };
  for (Replica& r : replicas) step(&r);  // warm-up: buffers grow to size

  std::atomic<bool> stop{false};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (Replica& r : replicas) {
    workers.emplace_back([&, rp = &r] {
      while (!stop.load()) {
        step(rp);
        ++rp->steps;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(kSecondsPerRun));
  stop = true;
  for (std::thread& w : workers) w.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  int steps = 0;
  for (const Replica& r : replicas) {
    EXPECT_TRUE(r.finite);
    EXPECT_GT(r.steps, 0);
    for (float g : r.param_grads) ASSERT_TRUE(std::isfinite(g));
    steps += r.steps;
  }
  const double flops = first.TrainingFlops(batch);
  std::printf(
      "[throughput] %-4s B=128 T=100 d=18 F=2, %d thread(s): %7.0f samples/s  "
      "%.2f MFLOP/sample  %.1f GFLOP/s  (%d steps, %.2f s)\n",
      ModelKindName(kind), threads, steps * batch.size / seconds, flops / batch.size / 1e6,
      steps * flops / seconds / 1e9, steps, seconds);
}

class ModelThroughputTest : public ::testing::Test {
 protected:
  void SetUp() override { openblas_set_num_threads(1); }
};

TEST_F(ModelThroughputTest, DinFloat) {
  Measure(ModelKind::kDin, 1);
  Measure(ModelKind::kDin, 2);
}

TEST_F(ModelThroughputTest, DienFloat) {
  Measure(ModelKind::kDien, 1);
  Measure(ModelKind::kDien, 2);
}

}  // namespace
}  // namespace dips
