// CUDA vs CPU: linear, sigmoid, PReLU, Dice and the BCE loss, on random
// shapes. Gradient buffers start non-zero in both so accumulation (+=) is
// checked too.
#include <gtest/gtest.h>

#include "tests/gpu/parity_util.h"
#include "worker/model/layers/activations.h"
#include "worker/model/layers/dice.h"
#include "worker/model/layers/linear.h"
#include "worker/model/layers/loss.h"

namespace dips {
namespace gpu_test {
namespace {

class DenseParityTest : public CudaParityTest {};

TEST(CudaContextTest, CreateSucceedsOrReportsUnavailable) {
  // Runs everywhere: without a device the backend must say so as a Status,
  // not crash, so the trainer can fall back or stop with a clear message.
  StatusOr<std::unique_ptr<cuda::CudaContext>> ctx = cuda::CudaContext::Create(0);
  if (!ctx.ok()) {
    EXPECT_EQ(ctx.status().code(), StatusCode::kUnavailable) << ctx.status().ToString();
    std::printf("skipped: no GPU (%s)\n", ctx.status().ToString().c_str());
    return;
  }
  EXPECT_TRUE((*ctx)->Synchronize().ok());
  StatusOr<std::unique_ptr<cuda::CudaContext>> bad = cuda::CudaContext::Create(1 << 20);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(DenseParityTest, Linear) {
  for (int trial = 0; trial < 6; ++trial) {
    // The last trial is tall enough for the chunked column reduction (db).
    const int n = trial == 5 ? 1500 : RandomInt(1, 70);
    const int in = RandomInt(1, 50), out = RandomInt(1, 90);
    const bool bias = trial % 2 == 0;
    const Vec x = Random(n * in), w = Random(in * out), b = Random(out), dy = Random(n * out);
    Vec y(n * out), dx = Random(n * in), dw = Random(in * out), db = Random(out);
    float* d_y = Upload(y);
    float* d_dx = Upload(dx);
    float* d_dw = Upload(dw);
    float* d_db = Upload(db);
    const float* d_x = Upload(x);
    const float* d_w = Upload(w);
    const float* d_b = Upload(b);
    linear_forward(y.data(), x.data(), w.data(), bias ? b.data() : nullptr, n, in, out);
    cuda::linear_forward(d_y, d_x, d_w, bias ? d_b : nullptr, n, in, out, ctx_.get());
    linear_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), n, in, out);
    cuda::linear_backward(d_dx, d_dw, d_db, Upload(dy), d_x, d_w, n, in, out, ctx_.get());
    ExpectParity("linear y", d_y, y);
    ExpectParity("linear dx", d_dx, dx);
    ExpectParity("linear dw", d_dw, dw);
    ExpectParity("linear db", d_db, db);
  }
}

TEST_F(DenseParityTest, SigmoidAndPrelu) {
  for (int trial = 0; trial < 4; ++trial) {
    const int n = trial == 3 ? 2000 : RandomInt(1, 200), units = RandomInt(1, 100);
    const size_t total = static_cast<size_t>(n) * units;
    const Vec x = Random(total, -6.0f, 6.0f), dy = Random(total), alpha = Random(units, 0.0f, 0.5f);
    Vec y(total), dx = Random(total), py(total), pdx = Random(total), dalpha = Random(units);
    float* d_y = Upload(y);
    float* d_dx = Upload(dx);
    float* d_py = Upload(py);
    float* d_pdx = Upload(pdx);
    float* d_dalpha = Upload(dalpha);
    const float* d_x = Upload(x);
    const float* d_dy = Upload(dy);
    const float* d_alpha = Upload(alpha);

    sigmoid_forward(y.data(), x.data(), total);
    sigmoid_backward(dx.data(), dy.data(), y.data(), total);
    cuda::sigmoid_forward(d_y, d_x, total, ctx_.get());
    cuda::sigmoid_backward(d_dx, d_dy, d_y, total, ctx_.get());
    ExpectParity("sigmoid y", d_y, y);
    ExpectParity("sigmoid dx", d_dx, dx);

    prelu_forward(py.data(), x.data(), alpha.data(), n, units);
    prelu_backward(pdx.data(), dalpha.data(), dy.data(), x.data(), alpha.data(), n, units);
    cuda::prelu_forward(d_py, d_x, d_alpha, n, units, ctx_.get());
    cuda::prelu_backward(d_pdx, d_dalpha, d_dy, d_x, d_alpha, n, units, ctx_.get());
    ExpectParity("prelu y", d_py, py);
    ExpectParity("prelu dx", d_pdx, pdx);
    ExpectParity("prelu dalpha", d_dalpha, dalpha);
  }
}

// One Dice configuration: training or not, a mask (some rows padded, or
// every row when `all_masked`), moving averages or not.
struct DiceCase {
  bool training;
  bool masked;
  bool all_masked;
  bool moving;
};

TEST_F(DenseParityTest, Dice) {
  const DiceCase cases[] = {
      {true, false, false, true},  {true, true, false, true},  {true, true, false, false},
      {true, true, true, true},    {true, true, true, false},  {false, false, false, true},
      {false, true, false, true},
  };
  for (const DiceCase& c : cases) {
    SCOPED_TRACE(testing::Message() << "training=" << c.training << " masked=" << c.masked
                                    << " all_masked=" << c.all_masked << " moving=" << c.moving);
    const int rows = RandomInt(8, 1500), units = RandomInt(1, 130);
    const size_t total = static_cast<size_t>(rows) * units;
    // An offset keeps |mean| well above 0, as real pre-activations have.
    const Vec x = Random(total, -1.0f, 3.0f), dy = Random(total), alpha = Random(units, 0.0f, 0.5f);
    Vec mask(rows, 1.0f);
    if (c.masked) {
      for (float& m : mask) m = c.all_masked || RandomInt(0, 3) == 0 ? 0.0f : 1.0f;
      if (!c.all_masked) mask[0] = 1.0f;
    }
    Vec moving_mean = Random(units), moving_var = Random(units, 0.5f, 2.0f);
    Vec y(total), dx = Random(total), dalpha = Random(units);
    float* d_y = Upload(y);
    float* d_dx = Upload(dx);
    float* d_dalpha = Upload(dalpha);
    float* d_mm = Upload(moving_mean);
    float* d_mv = Upload(moving_var);
    const float* d_x = Upload(x);
    const float* d_alpha = Upload(alpha);
    const float* d_mask = c.masked ? Upload(mask) : nullptr;
    const DiceShape shape{rows, units, 1e-8, 0.99};

    DiceCache<float> cache;
    dice_forward(y.data(), &cache, x.data(), alpha.data(), c.masked ? mask.data() : nullptr,
                 c.training, c.moving ? moving_mean.data() : nullptr,
                 c.moving ? moving_var.data() : nullptr, shape);
    dice_backward(dx.data(), dalpha.data(), dy.data(), cache, x.data(), alpha.data(),
                  c.masked ? mask.data() : nullptr, shape);
    cuda::DiceCache d_cache;
    cuda::dice_forward(d_y, &d_cache, d_x, d_alpha, d_mask, c.training, c.moving ? d_mm : nullptr,
                       c.moving ? d_mv : nullptr, shape, ctx_.get());
    cuda::dice_backward(d_dx, d_dalpha, Upload(dy), &d_cache, d_x, d_alpha, d_mask, shape,
                        ctx_.get());
    ExpectParity("dice y", d_y, y);
    ExpectParity("dice dx", d_dx, dx);
    ExpectParity("dice dalpha", d_dalpha, dalpha);
    ExpectParity("dice moving mean", d_mm, moving_mean);
    ExpectParity("dice moving var", d_mv, moving_var);
  }
}

TEST_F(DenseParityTest, SigmoidBce) {
  for (int trial = 0; trial < 4; ++trial) {
    const int n = RandomInt(1, 1000);
    const Vec logits = Random(n, -30.0f, 30.0f);
    Vec labels(n);
    for (float& l : labels) l = static_cast<float>(RandomInt(0, 1));
    Vec probs(n), dlogits = Random(n);
    float* d_probs = Upload(probs);
    float* d_loss = Upload(Vec(1));
    float* d_dlogits = Upload(dlogits);
    const float* d_logits = Upload(logits);
    const float* d_labels = Upload(labels);
    const float loss = sigmoid_bce_forward(probs.data(), logits.data(), labels.data(), n);
    sigmoid_bce_backward(dlogits.data(), probs.data(), labels.data(), n, 0.7f);
    cuda::sigmoid_bce_forward(d_probs, d_loss, d_logits, d_labels, n, ctx_.get());
    cuda::sigmoid_bce_backward(d_dlogits, d_probs, d_labels, n, 0.7f, ctx_.get());
    ExpectParity("bce loss", d_loss, Vec{loss});
    ExpectParity("bce probs", d_probs, probs);
    ExpectParity("bce dlogits", d_dlogits, dlogits);
  }
}

}  // namespace
}  // namespace gpu_test
}  // namespace dips
