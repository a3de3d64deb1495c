// DIN's activation unit: for every history position (b, t)
//   a[b,t] = MLP([k, q, k - q, k * q]),  k = keys[b,t] (dim D), q = query[b] (D)
// with hidden sizes hidden1 -> hidden2 -> 1 and the chosen activation after
// each hidden layer. The output is the raw score (no final activation).
// Padded positions (mask 0) get score 0 and pass no gradient.
//
// The first layer uses the algebra W [k, q, k-q, k*q] = (W1 + W3) k +
// (W2 - W3) q + W4 (k * q): the q term is computed once per sample, not once
// per position. Weight layout of w1 is [4D x hidden1], rows in the order of
// the concatenation above (so the model's parameters read the same as the
// plain concatenated layer).
#ifndef DIPS_WORKER_MODEL_LAYERS_ATTENTION_UNIT_H_
#define DIPS_WORKER_MODEL_LAYERS_ATTENTION_UNIT_H_

#include <cstdint>
#include <vector>

#include "worker/model/layers/dice.h"

namespace dips {

enum class HiddenActivation { kSigmoid, kPrelu, kDice };

struct AttentionUnitShape {
  int batch = 0;
  int length = 0;
  int dim = 0;       // D
  int hidden1 = 80;
  int hidden2 = 40;
  HiddenActivation activation = HiddenActivation::kSigmoid;
  // Forward and backward run the layers block by block over this many packed
  // rows, so each layer's output is still in cache when the next step reads
  // it (at B = 128, T = 52 a layer's [n x 80] buffer is 2 MB; PReLU's
  // backward ran about 3.4x faster on a block just written than on the
  // whole buffer). Dice normalises with statistics over all rows, so with Dice the
  // block is all of them.
  int row_block = 128;
};

// Pointers into the dense parameter buffer. act1/act2 are the per-unit PReLU
// or Dice alphas (unused for sigmoid); dice moving statistics are state, not
// trained parameters.
template <typename T>
struct AttentionUnitWeights {
  const T* w1 = nullptr;  // [4D x hidden1]
  const T* b1 = nullptr;  // [hidden1]
  const T* act1 = nullptr;  // [hidden1]
  const T* w2 = nullptr;  // [hidden1 x hidden2]
  const T* b2 = nullptr;  // [hidden2]
  const T* act2 = nullptr;  // [hidden2]
  const T* w3 = nullptr;  // [hidden2 x 1]
  const T* b3 = nullptr;  // [1]
  T* dice1_moving_mean = nullptr;  // [hidden1], Dice only
  T* dice1_moving_var = nullptr;
  T* dice2_moving_mean = nullptr;  // [hidden2], Dice only
  T* dice2_moving_var = nullptr;
};

template <typename T>
struct AttentionUnitGrads {
  T* w1 = nullptr;
  T* b1 = nullptr;
  T* act1 = nullptr;
  T* w2 = nullptr;
  T* b2 = nullptr;
  T* act2 = nullptr;
  T* w3 = nullptr;
  T* b3 = nullptr;
};

// Saved activations; owned by the caller, reused across steps (buffers only
// grow, so a steady-state step allocates nothing). One cache serves one
// forward/backward pair at a time (not thread-safe).
//
// Only the n valid positions are computed: they are packed into rows
// 0..n-1 of every [n x ...] buffer in the order of valid_pos. Padding costs
// nothing, and the Dice statistics see valid rows only.
template <typename T>
struct AttentionUnitCache {
  std::vector<int32_t> valid_pos;  // [n] b*length + t of each valid position
  // [2D x hidden1]: rows 0..D-1 are W1 + W3, rows D..2D-1 are W4. Rebuilt by
  // every forward; backward uses it, so the weights must not change between.
  std::vector<T> folded_w;
  std::vector<T> query_w;     // [D x hidden1] W2 - W3, the query term's weights
  std::vector<T> query_term;  // [batch x hidden1] (W2 - W3) q + b1
  // [block x 2D] [k, k * q] of one row block, input of the folded GEMM;
  // rebuilt from keys and query in backward.
  std::vector<T> block_keys_kq;
  std::vector<T> pre1;  // [n x hidden1]
  std::vector<T> pre2;  // [n x hidden2]
  // The hidden outputs: [n x hidden] for sigmoid and Dice. For PReLU, out1
  // holds one block's, which backward recomputes from pre1, and out2 stays
  // empty: the output layer's passes read PReLU(pre2) directly.
  std::vector<T> out1, out2;
  std::vector<T> score;       // [n]
  // Backward scratch; "block" is the row block (shape.row_block, or n with Dice).
  std::vector<T> dscore;                     // [n]
  std::vector<T> dout2, dpre2;               // [block x hidden2]; dout2 empty for PReLU
  std::vector<T> dout1, dpre1;               // [block x hidden1]
  std::vector<T> dquery_term;                // [batch x hidden1]
  std::vector<T> dfolded_w;                  // [2D x hidden1]
  std::vector<T> dquery_w;                   // [D x hidden1] q^T dqt
  // PReLU: w3, act2, b2 (hidden2 each), b3 (1) and act1 (hidden1) sums.
  std::vector<T> small_grad_sums;
  std::vector<T> dkeys_kq;                   // [block x 2D]
  std::vector<T> w2_transposed;              // [hidden2 x hidden1]
  std::vector<T> folded_w_transposed;        // [hidden1 x 2D], with dkeys or dquery
  DiceCache<T> dice1, dice2;
  bool training = false;
};

// scores [batch x length] (overwritten; 0 at padding); keys [batch x length
// x D]; query [batch x D]; mask [batch x length], 1 valid / 0 padding, null
// for all valid. Training selects Dice's batch statistics and updates its
// moving averages through `weights`.
template <typename T>
void attention_unit_forward(T* scores, AttentionUnitCache<T>* cache,
                            const AttentionUnitWeights<T>& weights,
                            const T* keys, const T* query, const T* mask,
                            bool training, const AttentionUnitShape& shape);

// dkeys [batch*length x D] and dquery [batch x D] accumulate (+=); either may
// be null, as may any gradient pointer in `grads`. Padded positions of dkeys
// are left untouched and dscores there is ignored. keys, query and mask must
// be those given to the forward that filled `cache`.
template <typename T>
void attention_unit_backward(T* dkeys, T* dquery,
                             const AttentionUnitGrads<T>& grads,
                             const T* dscores, AttentionUnitCache<T>* cache,
                             const AttentionUnitWeights<T>& weights,
                             const T* keys, const T* query, const T* mask,
                             const AttentionUnitShape& shape);

}  // namespace dips

#endif  // DIPS_WORKER_MODEL_LAYERS_ATTENTION_UNIT_H_
