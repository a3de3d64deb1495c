// CUDA vs CPU: embedding gather/scatter-add, pooling, masked softmax, the
// head-input glue and DIN's attention unit, on random shapes with padding.
#include <gtest/gtest.h>

#include <cmath>

#include "tests/gpu/parity_util.h"
#include "worker/model/layers/attention_unit.h"
#include "worker/model/layers/embedding.h"
#include "worker/model/layers/pooling.h"

namespace dips {
namespace gpu_test {
namespace {

class SequenceParityTest : public CudaParityTest {};

TEST_F(SequenceParityTest, EmbeddingGatherAndScatterAdd) {
  for (int trial = 0; trial < 4; ++trial) {
    const int keys = RandomInt(1, 40), num = RandomInt(1, 300), fields = RandomInt(1, 3);
    const int dim = RandomInt(1, 40);
    // Few keys for many slots: repeated slots exercise the atomic adds.
    std::vector<int32_t> slots(static_cast<size_t>(num) * fields);
    for (int32_t& s : slots) s = RandomInt(-1, keys - 1);
    const Vec rows = Random(static_cast<size_t>(keys) * dim);
    const Vec dout = Random(slots.size() * dim);
    Vec out(slots.size() * dim), drows = Random(rows.size());
    float* d_out = Upload(out);
    float* d_drows = Upload(drows);
    const int32_t* d_slots = Upload(slots);
    embedding_gather(out.data(), rows.data(), slots.data(), num, fields, dim);
    embedding_scatter_add(drows.data(), dout.data(), slots.data(), num, fields, dim);
    cuda::embedding_gather(d_out, Upload(rows), d_slots, num, fields, dim, ctx_.get());
    cuda::embedding_scatter_add(d_drows, Upload(dout), d_slots, num, fields, dim, ctx_.get());
    ExpectParity("gather", d_out, out);
    ExpectParity("scatter-add", d_drows, drows);
  }
}

TEST_F(SequenceParityTest, PoolingAndSoftmax) {
  for (int trial = 0; trial < 6; ++trial) {
    const int batch = RandomInt(1, 40), length = RandomInt(1, 70), dim = RandomInt(1, 60);
    const bool weighted = trial % 2 == 0;
    const std::vector<int32_t> lengths = RandomLengths(batch, length);
    const Vec mask = MaskOf(lengths, length);
    const size_t positions = static_cast<size_t>(batch) * length;
    const Vec values = Random(positions * dim), weights = Random(positions);
    const Vec dout = Random(static_cast<size_t>(batch) * dim), dy = Random(positions);
    Vec out(static_cast<size_t>(batch) * dim), dvalues = Random(positions * dim);
    Vec dweights = Random(positions), y(positions), dx = Random(positions);
    float* d_out = Upload(out);
    float* d_dvalues = Upload(dvalues);
    float* d_dweights = Upload(dweights);
    float* d_y = Upload(y);
    float* d_dx = Upload(dx);
    const float* d_values = Upload(values);
    const float* d_weights = weighted ? Upload(weights) : nullptr;
    const float* d_mask = Upload(mask);
    const float* w = weighted ? weights.data() : nullptr;

    weighted_sum_pooling_forward(out.data(), values.data(), w, mask.data(), batch, length, dim);
    weighted_sum_pooling_backward(dvalues.data(), dweights.data(), dout.data(), values.data(), w,
                                  mask.data(), batch, length, dim);
    cuda::weighted_sum_pooling_forward(d_out, d_values, d_weights, d_mask, batch, length, dim,
                                       ctx_.get());
    cuda::weighted_sum_pooling_backward(d_dvalues, d_dweights, Upload(dout), d_values, d_weights,
                                        d_mask, batch, length, dim, ctx_.get());
    ExpectParity("pooling out", d_out, out);
    ExpectParity("pooling dvalues", d_dvalues, dvalues);
    ExpectParity("pooling dweights", d_dweights, dweights);

    const Vec x = Random(positions, -8.0f, 8.0f);
    masked_softmax_forward(y.data(), x.data(), mask.data(), batch, length);
    masked_softmax_backward(dx.data(), dy.data(), y.data(), mask.data(), batch, length);
    cuda::masked_softmax_forward(d_y, Upload(x), d_mask, batch, length, ctx_.get());
    cuda::masked_softmax_backward(d_dx, Upload(dy), d_y, d_mask, batch, length, ctx_.get());
    ExpectParity("softmax y", d_y, y);
    ExpectParity("softmax dx", d_dx, dx);
  }
}

// The reference is ctr_model.cc's loops, restated here because the CPU
// model does this inline rather than as a layer function.
TEST_F(SequenceParityTest, HeadInputAndLastStep) {
  const int batch = 37, pd = 5, dim = 12, u = 12, length = 9;
  const int width = pd + 3 * dim + u;
  const Vec extra = Random(batch * pd), target = Random(batch * dim);
  const Vec pooled = Random(batch * dim), interest = Random(batch * u), dx = Random(batch * width);
  Vec x(batch * width), dextra(batch * pd), dtarget(batch * dim), dpooled(batch * dim);
  Vec dinterest(batch * u);
  for (int b = 0; b < batch; ++b) {
    float* row = &x[b * width];
    const float* drow = &dx[b * width];
    for (int i = 0; i < pd; ++i) {
      row[i] = extra[b * pd + i];
      dextra[b * pd + i] = drow[i];
    }
    for (int i = 0; i < dim; ++i) {
      const float va = target[b * dim + i], s = pooled[b * dim + i];
      row[pd + i] = va;
      row[pd + dim + i] = s;
      row[pd + 2 * dim + i] = va * s;
      dtarget[b * dim + i] = drow[pd + i] + drow[pd + 2 * dim + i] * s;
      dpooled[b * dim + i] = drow[pd + dim + i] + drow[pd + 2 * dim + i] * va;
    }
    for (int i = 0; i < u; ++i) {
      row[pd + 3 * dim + i] = interest[b * u + i];
      dinterest[b * u + i] = drow[pd + 3 * dim + i];
    }
  }
  float* d_x = Upload(Vec(x.size()));
  float* d_dextra = Upload(Vec(dextra.size()));
  float* d_dtarget = Upload(Vec(dtarget.size()));
  float* d_dpooled = Upload(Vec(dpooled.size()));
  float* d_dinterest = Upload(Vec(dinterest.size()));
  const float* d_target = Upload(target);
  const float* d_pooled = Upload(pooled);
  cuda::head_input_forward(d_x, Upload(extra), d_target, d_pooled, Upload(interest), batch, pd,
                           dim, u, ctx_.get());
  cuda::head_input_backward(d_dextra, d_dtarget, d_dpooled, d_dinterest, Upload(dx), d_target,
                            d_pooled, batch, pd, dim, u, ctx_.get());
  ExpectParity("head input x", d_x, x);
  ExpectParity("head input dextra", d_dextra, dextra);
  ExpectParity("head input dtarget", d_dtarget, dtarget);
  ExpectParity("head input dpooled", d_dpooled, dpooled);
  ExpectParity("head input dinterest", d_dinterest, dinterest);

  // last_step: out[b] = seq[b, L-1]; backward adds dout there.
  const Vec seq = Random(batch * length * dim), dout = Random(batch * dim);
  Vec last(batch * dim), dseq = Random(seq.size());
  float* d_last = Upload(last);
  float* d_dseq = Upload(dseq);
  for (int b = 0; b < batch; ++b) {
    for (int i = 0; i < dim; ++i) {
      const size_t s = (static_cast<size_t>(b) * length + length - 1) * dim + i;
      last[b * dim + i] = seq[s];
      dseq[s] += dout[b * dim + i];
    }
  }
  cuda::last_step_forward(d_last, Upload(seq), batch, length, dim, ctx_.get());
  cuda::last_step_backward(d_dseq, Upload(dout), batch, length, dim, ctx_.get());
  ExpectParity("last step", d_last, last);
  ExpectParity("last step backward", d_dseq, dseq);
}

// Host weights of one attention unit, and device copies of them.
struct AttentionParams {
  Vec w1, b1, act1, w2, b2, act2, w3, b3, mm1, mv1, mm2, mv2;
  std::vector<Vec*> All() { return {&w1, &b1, &act1, &w2, &b2, &act2, &w3, &b3}; }
};

TEST_F(SequenceParityTest, AttentionUnit) {
  const HiddenActivation activations[] = {HiddenActivation::kSigmoid, HiddenActivation::kPrelu,
                                          HiddenActivation::kDice};
  for (HiddenActivation act : activations) {
    for (int trial = 0; trial < 2; ++trial) {
      SCOPED_TRACE(testing::Message() << "activation " << static_cast<int>(act) << " trial "
                                      << trial);
      AttentionUnitShape shape;
      shape.batch = RandomInt(2, 24);
      shape.length = RandomInt(1, 30);
      shape.dim = RandomInt(1, 40);
      shape.hidden1 = RandomInt(1, 90);
      shape.hidden2 = RandomInt(1, 50);
      shape.activation = act;
      const int B = shape.batch, L = shape.length, D = shape.dim;
      const int h1 = shape.hidden1, h2 = shape.hidden2;
      const std::vector<int32_t> lengths = RandomLengths(B, L);
      const Vec mask = MaskOf(lengths, L);
      // Padded keys hold garbage on purpose: neither side may read them.
      const Vec keys = Random(static_cast<size_t>(B) * L * D), query = Random(B * D);
      const float s1 = 2.0f / std::sqrt(4.0f * D), s2 = 2.0f / std::sqrt(float(h1));
      AttentionParams p;
      p.w1 = Random(4 * D * h1, -s1, s1);
      p.b1 = Random(h1, -0.1f, 0.1f);
      p.act1 = Random(h1, 0.0f, 0.5f);
      p.w2 = Random(h1 * h2, -s2, s2);
      p.b2 = Random(h2, -0.1f, 0.1f);
      p.act2 = Random(h2, 0.0f, 0.5f);
      p.w3 = Random(h2, -0.5f, 0.5f);
      p.b3 = Random(1);
      p.mm1 = Random(h1);
      p.mv1 = Random(h1, 0.5f, 2.0f);
      p.mm2 = Random(h2);
      p.mv2 = Random(h2, 0.5f, 2.0f);

      AttentionUnitWeights<float> w, dw;
      const Vec* src[] = {&p.w1, &p.b1, &p.act1, &p.w2, &p.b2, &p.act2, &p.w3, &p.b3};
      const float** dst[] = {&dw.w1, &dw.b1, &dw.act1, &dw.w2, &dw.b2, &dw.act2, &dw.w3, &dw.b3};
      for (int i = 0; i < 8; ++i) *dst[i] = Upload(*src[i]);
      Vec* stats[] = {&p.mm1, &p.mv1, &p.mm2, &p.mv2};
      float** dstats[] = {&dw.dice1_moving_mean, &dw.dice1_moving_var, &dw.dice2_moving_mean,
                          &dw.dice2_moving_var};
      for (int i = 0; i < 4; ++i) *dstats[i] = Upload(*stats[i]);
      w = {p.w1.data(),  p.b1.data(),  p.act1.data(), p.w2.data(),  p.b2.data(), p.act2.data(),
           p.w3.data(),  p.b3.data(),  p.mm1.data(),  p.mv1.data(), p.mm2.data(), p.mv2.data()};

      // Gradients start random (accumulation), identically on both sides.
      std::vector<Vec> grads;
      for (Vec* v : p.All()) grads.push_back(Random(v->size()));
      AttentionUnitGrads<float> g, dg;
      float** gp[] = {&g.w1, &g.b1, &g.act1, &g.w2, &g.b2, &g.act2, &g.w3, &g.b3};
      float** dgp[] = {&dg.w1, &dg.b1, &dg.act1, &dg.w2, &dg.b2, &dg.act2, &dg.w3, &dg.b3};
      for (int i = 0; i < 8; ++i) {
        *dgp[i] = Upload(grads[i]);
        *gp[i] = grads[i].data();
      }
      const Vec dscores = Random(static_cast<size_t>(B) * L);
      Vec scores(dscores.size()), dkeys = Random(keys.size()), dquery = Random(query.size());
      float* d_scores = Upload(scores);
      float* d_dkeys = Upload(dkeys);
      float* d_dquery = Upload(dquery);
      const float* d_keys = Upload(keys);
      const float* d_query = Upload(query);
      const float* d_mask = Upload(mask);

      AttentionUnitCache<float> cache;
      attention_unit_forward(scores.data(), &cache, w, keys.data(), query.data(), mask.data(),
                             true, shape);
      attention_unit_backward(dkeys.data(), dquery.data(), g, dscores.data(), &cache, w,
                              keys.data(), query.data(), mask.data(), shape);
      cuda::AttentionUnitCache d_cache;
      cuda::attention_unit_forward(d_scores, &d_cache, dw, d_keys, d_query, d_mask, true, shape,
                                   ctx_.get());
      cuda::attention_unit_backward(d_dkeys, d_dquery, dg, Upload(dscores), &d_cache, dw, d_keys,
                                    d_query, d_mask, shape, ctx_.get());
      ExpectParity("scores", d_scores, scores);
      ExpectParity("dkeys", d_dkeys, dkeys);
      ExpectParity("dquery", d_dquery, dquery);
      const char* names[] = {"dw1", "db1", "dact1", "dw2", "db2", "dact2", "dw3", "db3"};
      for (int i = 0; i < 8; ++i) ExpectParity(names[i], *dgp[i], grads[i]);
      for (int i = 0; i < 4; ++i) ExpectParity("dice moving statistics", *dstats[i], *stats[i]);

      // Evaluation pass: reads the moving statistics just updated.
      Vec eval_scores(scores.size());
      attention_unit_forward(eval_scores.data(), &cache, w, keys.data(), query.data(),
                             mask.data(), false, shape);
      cuda::attention_unit_forward(d_scores, &d_cache, dw, d_keys, d_query, d_mask, false, shape,
                                   ctx_.get());
      ExpectParity("evaluation scores", d_scores, eval_scores);
    }
  }
}

}  // namespace
}  // namespace gpu_test
}  // namespace dips
