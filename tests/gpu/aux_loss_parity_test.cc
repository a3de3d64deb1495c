// CUDA vs CPU: DIEN's auxiliary loss (MLP and inner-product scorers) and
// AIGRU's input scaling, on padded batches (lengths from 0 to the full
// length, and a length-1 history with no pair at all) with gradient buffers
// that start non-zero.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tests/gpu/parity_util.h"
#include "worker/model/layers/aux_loss.h"
#include "worker/model/layers/gru.h"

namespace dips {
namespace gpu_test {
namespace {

class AuxLossParityTest : public CudaParityTest {
 protected:
  void RunCase(AuxNetKind kind, const AuxLossShape& shape, const std::vector<int32_t>& lengths) {
    const int B = shape.batch, L = shape.length, H = shape.hidden, D = shape.dim;
    const size_t n = static_cast<size_t>(B) * L;
    const bool mlp = kind == AuxNetKind::kMlp;
    const int in = H + D, h1 = shape.hidden1, h2 = shape.hidden2;
    // Padded positions hold garbage too: only pairs may reach an output.
    const Vec hidden = Random(n * H), behaviours = Random(n * D), negatives = Random(n * D);
    const float s1 = 1.5f / std::sqrt(static_cast<float>(in));
    Vec w1, b1, w2, b2, w3, b3;
    if (mlp) {
      w1 = Random(static_cast<size_t>(in) * h1, -s1, s1);
      b1 = Random(h1, -0.2f, 0.2f);
      w2 = Random(static_cast<size_t>(h1) * h2, -0.5f, 0.5f);
      b2 = Random(h2, -0.2f, 0.2f);
      w3 = Random(h2, -0.8f, 0.8f);
      b3 = Random(1, -0.2f, 0.2f);
    }
    Vec dhidden = Random(n * H), dbehaviours = Random(n * D), dnegatives = Random(n * D);
    Vec gw1 = Random(w1.size()), gb1 = Random(b1.size()), gw2 = Random(w2.size());
    Vec gb2 = Random(b2.size()), gw3 = Random(w3.size()), gb3 = Random(b3.size());
    const float scale = 0.7f;

    // Device copies, taken before the CPU accumulates into the host ones.
    float* d_dhidden = Upload(dhidden);
    float* d_dbehaviours = Upload(dbehaviours);
    float* d_dnegatives = Upload(dnegatives);
    AuxNetWeights<float> dw;
    AuxNetGrads<float> dg;
    if (mlp) {
      dw = {Upload(w1), Upload(b1), Upload(w2), Upload(b2), Upload(w3), Upload(b3)};
      dg = {Upload(gw1), Upload(gb1), Upload(gw2), Upload(gb2), Upload(gw3), Upload(gb3)};
    }
    const float* d_hidden = Upload(hidden);
    const float* d_behaviours = Upload(behaviours);
    const float* d_negatives = Upload(negatives);
    const int32_t* d_lengths = Upload(lengths);
    float* d_loss = Upload(Vec{123.0f});  // must be overwritten

    AuxNetWeights<float> w;
    AuxNetGrads<float> g;
    if (mlp) {
      w = {w1.data(), b1.data(), w2.data(), b2.data(), w3.data(), b3.data()};
      g = {gw1.data(), gb1.data(), gw2.data(), gb2.data(), gw3.data(), gb3.data()};
    }
    AuxLossCache<float> cache;
    const float loss = aux_loss_forward(&cache, w, hidden.data(), behaviours.data(),
                                        negatives.data(), lengths.data(), shape);
    aux_loss_backward(dhidden.data(), dbehaviours.data(), dnegatives.data(), g, scale, &cache, w,
                      hidden.data(), behaviours.data(), negatives.data(), lengths.data(), shape);

    cuda::AuxLossCache d_cache;
    cuda::aux_loss_forward(d_loss, &d_cache, dw, d_hidden, d_behaviours, d_negatives, d_lengths,
                           shape, ctx_.get());
    cuda::aux_loss_backward(d_dhidden, d_dbehaviours, d_dnegatives, dg, scale, &d_cache, dw,
                            d_hidden, d_behaviours, d_negatives, d_lengths, shape, ctx_.get());
    ExpectParity("loss", d_loss, Vec{loss});
    ExpectParity("dhidden", d_dhidden, dhidden);
    ExpectParity("dbehaviours", d_dbehaviours, dbehaviours);
    ExpectParity("dnegatives", d_dnegatives, dnegatives);
    if (mlp) {
      ExpectParity("dw1", dg.w1, gw1);
      ExpectParity("db1", dg.b1, gb1);
      ExpectParity("dw2", dg.w2, gw2);
      ExpectParity("db2", dg.b2, gb2);
      ExpectParity("dw3", dg.w3, gw3);
      ExpectParity("db3", dg.b3, gb3);
    }
  }

  AuxLossShape RandomShape(AuxNetKind kind) {
    AuxLossShape s;
    s.kind = kind;
    s.batch = RandomInt(1, 24);
    s.length = RandomInt(1, 14);
    s.hidden = RandomInt(1, 45);  // crosses the 32-lane warp width
    s.dim = kind == AuxNetKind::kInnerProduct ? s.hidden : RandomInt(1, 45);
    s.hidden1 = RandomInt(1, 40);
    s.hidden2 = RandomInt(1, 30);
    return s;
  }
};

TEST_F(AuxLossParityTest, MlpAndInnerProduct) {
  for (AuxNetKind kind : {AuxNetKind::kMlp, AuxNetKind::kInnerProduct}) {
    for (int trial = 0; trial < 4; ++trial) {
      SCOPED_TRACE(testing::Message() << "kind " << static_cast<int>(kind) << " trial " << trial);
      const AuxLossShape shape = RandomShape(kind);
      RunCase(kind, shape, RandomLengths(shape.batch, shape.length));
    }
  }
}

TEST_F(AuxLossParityTest, NoPairs) {
  // Lengths 0 and 1 only: no position has a next behaviour, so the loss is
  // 0 and every gradient keeps its initial value.
  for (AuxNetKind kind : {AuxNetKind::kMlp, AuxNetKind::kInnerProduct}) {
    SCOPED_TRACE(testing::Message() << "kind " << static_cast<int>(kind));
    AuxLossShape shape = RandomShape(kind);
    shape.batch = 5;
    RunCase(kind, shape, {0, 1, 1, 0, 1});
  }
}

TEST_F(AuxLossParityTest, AigruInputScaling) {
  for (int trial = 0; trial < 4; ++trial) {
    SCOPED_TRACE(testing::Message() << "trial " << trial);
    const size_t rows = static_cast<size_t>(RandomInt(1, 300));
    const int dim = RandomInt(1, 70);
    const Vec hidden = Random(rows * dim), attention = Random(rows, 0.0f, 1.0f);
    const Vec dscaled = Random(rows * dim);
    Vec scaled(rows * dim), dhidden = Random(rows * dim), dattention = Random(rows);
    float* d_scaled = Upload(scaled);
    float* d_dhidden = Upload(dhidden);
    float* d_dattention = Upload(dattention);
    const float* d_hidden = Upload(hidden);
    const float* d_attention = Upload(attention);

    aigru_input_forward(scaled.data(), hidden.data(), attention.data(), rows, dim);
    aigru_input_backward(dhidden.data(), dattention.data(), dscaled.data(), hidden.data(),
                         attention.data(), rows, dim);
    cuda::aigru_input_forward(d_scaled, d_hidden, d_attention, rows, dim, ctx_.get());
    cuda::aigru_input_backward(d_dhidden, d_dattention, Upload(dscaled), d_hidden, d_attention,
                               rows, dim, ctx_.get());
    ExpectParity("scaled", d_scaled, scaled);
    ExpectParity("dhidden", d_dhidden, dhidden);
    ExpectParity("dattention", d_dattention, dattention);
  }
}

}  // namespace
}  // namespace gpu_test
}  // namespace dips
