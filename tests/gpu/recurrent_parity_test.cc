// CUDA vs CPU: GRU, AUGRU and AGRU over padded batches (lengths from 0 to
// the full length), forward states and every gradient.
#include <gtest/gtest.h>

#include <cmath>

#include "tests/gpu/parity_util.h"
#include "worker/model/layers/gru.h"

namespace dips {
namespace gpu_test {
namespace {

class RecurrentParityTest : public CudaParityTest {
 protected:
  // Runs one GRU variant forward and backward on the CPU and the device and
  // compares the states and every gradient.
  void CheckGru(GruVariant variant, const GruShape& shape, cuda::GruRecurrence recurrence) {
    const int B = shape.batch, L = shape.length, I = shape.input_dim, H = shape.hidden;
    const size_t rows = static_cast<size_t>(B) * L;
    const std::vector<int32_t> lengths = RandomLengths(B, L);
    const float s = 1.5f / std::sqrt(static_cast<float>(H));
    const Vec w_input = Random(static_cast<size_t>(I) * 3 * H, -s, s);
    const Vec w_hidden = Random(static_cast<size_t>(H) * 3 * H, -s, s);
    const Vec bias = Random(3 * H, -0.2f, 0.2f);
    const Vec inputs = Random(rows * I);
    const Vec attention = Random(rows, 0.0f, 1.0f);
    const Vec dhidden = Random(rows * H);
    const bool gated = variant != GruVariant::kGru;

    Vec hidden(rows * H), dinputs = Random(rows * I), dattention = Random(rows);
    Vec gw_input = Random(w_input.size()), gw_hidden = Random(w_hidden.size());
    Vec gbias = Random(bias.size());
    float* d_hidden = Upload(hidden);
    float* d_dinputs = Upload(dinputs);
    float* d_dattention = Upload(dattention);
    GruGrads<float> dg{Upload(gw_input), Upload(gw_hidden), Upload(gbias)};
    const GruWeights<float> dw{Upload(w_input), Upload(w_hidden), Upload(bias)};
    const float* d_inputs = Upload(inputs);
    const int32_t* d_lengths = Upload(lengths);
    const float* d_attention = gated ? Upload(attention) : nullptr;

    const GruWeights<float> w{w_input.data(), w_hidden.data(), bias.data()};
    GruGrads<float> g{gw_input.data(), gw_hidden.data(), gbias.data()};
    GruCache<float> cache;
    const float* a = gated ? attention.data() : nullptr;
    gru_forward(hidden.data(), &cache, w, inputs.data(), lengths.data(), a, variant, shape);
    gru_backward(dinputs.data(), dattention.data(), g, dhidden.data(), &cache, w, inputs.data(),
                 hidden.data(), lengths.data(), a, variant, shape);
    cuda::GruCache d_cache;
    cuda::gru_forward(d_hidden, &d_cache, dw, d_inputs, d_lengths, d_attention, variant, shape,
                      ctx_.get(), recurrence);
    cuda::gru_backward(d_dinputs, d_dattention, dg, Upload(dhidden), &d_cache, dw, d_inputs,
                       d_hidden, d_lengths, d_attention, variant, shape, ctx_.get(), recurrence);
    ExpectParity("hidden", d_hidden, hidden);
    ExpectParity("dinputs", d_dinputs, dinputs);
    ExpectParity("dattention", d_dattention, dattention);
    ExpectParity("dw_input", dg.w_input, gw_input);
    ExpectParity("dw_hidden", dg.w_hidden, gw_hidden);
    ExpectParity("dbias", dg.bias, gbias);
  }
};

const GruVariant kVariants[] = {GruVariant::kGru, GruVariant::kAugru, GruVariant::kAgru,
                                GruVariant::kAugruReference};
const cuda::GruRecurrence kRecurrences[] = {cuda::GruRecurrence::kAuto,
                                            cuda::GruRecurrence::kPerStep};

TEST_F(RecurrentParityTest, GruVariants) {
  for (cuda::GruRecurrence recurrence : kRecurrences) {
    for (GruVariant variant : kVariants) {
      for (int trial = 0; trial < 3; ++trial) {
        SCOPED_TRACE(testing::Message()
                     << "variant " << static_cast<int>(variant) << " trial " << trial
                     << " per-step " << (recurrence == cuda::GruRecurrence::kPerStep));
        GruShape shape;
        shape.batch = RandomInt(1, 40);
        shape.length = RandomInt(1, 25);
        shape.input_dim = RandomInt(1, 40);
        shape.hidden = RandomInt(1, 45);  // crosses the 32-lane warp width
        CheckGru(variant, shape, recurrence);
      }
    }
  }
}

// The model's sizes (H = 36, 54) and hidden sizes around the fused path's
// shared-memory limit: on an H100/H200 (227 KiB per block) H = 130 fuses
// with the raised limit and H = 150 falls back to the per-step path.
TEST_F(RecurrentParityTest, LargerHiddenSizes) {
  for (int hidden : {36, 54, 130, 150}) {
    for (GruVariant variant : kVariants) {
      SCOPED_TRACE(testing::Message() << "hidden " << hidden << " variant "
                                      << static_cast<int>(variant) << " fused "
                                      << cuda::GruFusedFits(hidden, ctx_.get()));
      GruShape shape;
      shape.batch = 9;  // three blocks of four sequences, the last one part-empty
      shape.length = 7;
      shape.input_dim = 20;
      shape.hidden = hidden;
      CheckGru(variant, shape, cuda::GruRecurrence::kAuto);
    }
  }
}

}  // namespace
}  // namespace gpu_test
}  // namespace dips
