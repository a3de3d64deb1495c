// GRU / AUGRU / AGRU over batch-major padded sequences.
//
// Layout: row (b, t) of a [batch*length x k] matrix is b*length + t, so the
// rows of one step across the batch are `length` rows apart. CBLAS takes that
// stride as the leading dimension, which lets every per-step GEMM read
// h_{t-1} and write h_{t-1} U in place without gathering.
//
// Backward runs one GEMM per step only for the gradient that must flow
// through time (dh_{t-1} = dgates_hidden_t U^T); the weight, bias and input
// gradients are each one pass over all rows at the end.
#include "worker/model/layers/gru.h"

#include <algorithm>
#include <cstring>

#include <glog/logging.h>

#include "worker/model/layers/fast_math.h"
#include "worker/model/layers/gemm.h"

namespace dips {
namespace {

template <typename T>
void GrowTo(std::vector<T>* v, size_t n) {
  if (v->size() < n) v->resize(n);
}

void CheckShape(const GruShape& s, const int32_t* lengths) {
  CHECK_GE(s.batch, 0);
  CHECK_GE(s.length, 1);
  CHECK_GE(s.input_dim, 1);
  CHECK_GE(s.hidden, 1);
  for (int b = 0; b < s.batch; ++b) {
    CHECK(lengths[b] >= 0 && lengths[b] <= s.length)
        << "sequence " << b << " has length " << lengths[b] << " outside [0, "
        << s.length << "]";
  }
}

// A step's rows lie one sequence (length x width floats, ~43 KB for the
// gates) apart, 128 streams at once: more than the hardware prefetchers
// follow, so each row's first touch missed the caches. The step loops
// fetch the rows of the sequence this many ahead.
constexpr int kRowPrefetch = 2;

template <typename T>
inline void PrefetchRow(const T* row, int count) {
  const char* p = reinterpret_cast<const char*>(row);
  const size_t bytes = sizeof(T) * static_cast<size_t>(count);
  for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off);
  __builtin_prefetch(p + bytes - 1);
}

int MaxLength(const int32_t* lengths, int batch) {
  int m = 0;
  for (int b = 0; b < batch; ++b) m = std::max(m, static_cast<int>(lengths[b]));
  return m;
}

// The gate that mixes candidate and previous state, m = k_u * u + k_0:
// u (GRU), a * u (AUGRU), a (AGRU) or (1 - a) u + a (the reference code's
// AUGRU). Written as coefficients per row so the element loops carry no
// branch on the variant and vectorise. dm/da is d_u * u + d_1 (zero for GRU:
// attention is not an input).
template <typename T>
struct Mix {
  T k_u, k_0, d_u, d_1;
};

template <typename T>
inline Mix<T> MixFor(GruVariant variant, T a) {
  switch (variant) {
    case GruVariant::kAugru:
      return {a, T(0), T(1), T(0)};
    case GruVariant::kAgru:
      return {T(0), a, T(0), T(1)};
    case GruVariant::kAugruReference:
      return {T(1) - a, a, T(-1), T(1)};
    case GruVariant::kGru:
    default:
      return {T(1), T(0), T(0), T(0)};
  }
}

// One valid step of one sequence. xp: x_t W (no bias), hp: h_{t-1} U,
// g: gates out (u, r, hc), h: h_t out.
template <typename T>
inline void ForwardRow(T* h, T* g, const T* xp, const T* hp, const T* bias,
                       const T* hprev, Mix<T> mix, int H) {
  const T k_u = mix.k_u, k_0 = mix.k_0;
#pragma omp simd
  for (int j = 0; j < 2 * H; ++j) g[j] = FastSigmoid(xp[j] + hp[j] + bias[j]);
#pragma omp simd
  for (int j = 0; j < H; ++j) {
    const T hc = FastTanh(xp[2 * H + j] + g[H + j] * hp[2 * H + j] + bias[2 * H + j]);
    g[2 * H + j] = hc;
    const T m = k_u * g[j] + k_0;
    h[j] = hprev[j] + m * (hc - hprev[j]);
  }
}

// Backward of one valid step. dh: on entry the gradient w.r.t. h_t from
// later steps, on exit its direct part w.r.t. h_{t-1} (the recurrent part is
// added by the caller's GEMM). dy: gradient w.r.t. the output h_t. Writes the
// gate gradients as seen by W (dx_row) and by U (dh_row); returns dL/da_t.
template <typename T>
inline T BackwardRow(T* dh, T* dx_row, T* dh_row, const T* dy, const T* g,
                     const T* hp, const T* hprev, Mix<T> mix, int H) {
  const T k_u = mix.k_u, k_0 = mix.k_0, d_u = mix.d_u, d_1 = mix.d_1;
  T da = 0;
#pragma omp simd reduction(+ : da)
  for (int j = 0; j < H; ++j) {
    const T u = g[j], r = g[H + j], hc = g[2 * H + j];
    const T m = k_u * u + k_0;
    const T dht = dh[j] + dy[j];
    const T dm = dht * (hc - hprev[j]);
    dh[j] = dht * (T(1) - m);
    da += dm * (d_u * u + d_1);
    const T du_pre = dm * k_u * u * (T(1) - u);
    const T dhc_pre = dht * m * (T(1) - hc * hc);
    const T dr_pre = dhc_pre * hp[2 * H + j] * r * (T(1) - r);
    dx_row[j] = du_pre;
    dx_row[H + j] = dr_pre;
    dx_row[2 * H + j] = dhc_pre;
    dh_row[j] = du_pre;
    dh_row[H + j] = dr_pre;
    dh_row[2 * H + j] = dhc_pre * r;
  }
  return da;
}

}  // namespace

template <typename T>
void gru_forward(T* hidden, GruCache<T>* cache, const GruWeights<T>& weights,
                 const T* inputs, const int32_t* lengths, const T* attention,
                 GruVariant variant, const GruShape& shape) {
  CheckShape(shape, lengths);
  CHECK(variant == GruVariant::kGru || attention != nullptr)
      << "AUGRU/AGRU need attention";
  const int B = shape.batch, L = shape.length, I = shape.input_dim;
  const int H = shape.hidden, G = 3 * H;
  const size_t rows = static_cast<size_t>(B) * L;
  if (rows == 0) return;
  GrowTo(&cache->input_proj, rows * G);
  GrowTo(&cache->hidden_proj, rows * G);
  GrowTo(&cache->gates, rows * G);
  T* xproj = cache->input_proj.data();
  T* hproj = cache->hidden_proj.data();
  T* gates = cache->gates.data();
  if (cache->zeros.size() < static_cast<size_t>(H)) cache->zeros.assign(H, T(0));
  const T* zeros = cache->zeros.data();

  // Input projection of every (b, t) at once.
  Gemm(false, false, static_cast<int>(rows), G, I, T(1), inputs, I,
       weights.w_input, G, T(0), xproj, G);

  const int max_len = MaxLength(lengths, B);
  for (int t = 0; t < L; ++t) {
    if (t >= 1 && t < max_len) {
      // h_{t-1} U for the whole batch: rows t-1 and t of each sequence.
      Gemm(false, false, B, G, H, T(1), hidden + static_cast<size_t>(t - 1) * H,
           L * H, weights.w_hidden, G, T(0), hproj + static_cast<size_t>(t) * G,
           L * G);
    }
    for (int b = 0; b < B; ++b) {
      const size_t row = static_cast<size_t>(b) * L + t;
      if (b + kRowPrefetch < B && t < lengths[b + kRowPrefetch]) {
        const size_t ahead = row + static_cast<size_t>(kRowPrefetch) * L;
        PrefetchRow(xproj + ahead * G, G);
        PrefetchRow(gates + ahead * G, G);
      }
      T* h = hidden + row * H;
      if (t >= lengths[b]) {
        // Padding carries the state; before the first step it is h_0 = 0.
        if (t == 0) {
          std::fill(h, h + H, T(0));
        } else {
          std::memcpy(h, h - H, sizeof(T) * H);
        }
        continue;
      }
      T* hp = hproj + row * G;
      if (t == 0) std::fill(hp, hp + G, T(0));  // h_{-1} U = 0
      const T a = attention != nullptr ? attention[row] : T(1);
      ForwardRow(h, gates + row * G, xproj + row * G, hp, weights.bias,
                 t > 0 ? h - H : zeros, MixFor(variant, a), H);
    }
  }
}

template <typename T>
void gru_backward(T* dinputs, T* dattention, const GruGrads<T>& grads,
                  const T* dhidden, GruCache<T>* cache,
                  const GruWeights<T>& weights, const T* inputs,
                  const T* hidden, const int32_t* lengths, const T* attention,
                  GruVariant variant, const GruShape& shape) {
  CheckShape(shape, lengths);
  const int B = shape.batch, L = shape.length, I = shape.input_dim;
  const int H = shape.hidden, G = 3 * H;
  const size_t rows = static_cast<size_t>(B) * L;
  if (rows == 0) return;
  GrowTo(&cache->dgates, rows * G);
  GrowTo(&cache->dgates_hidden, rows * G);
  GrowTo(&cache->dh, static_cast<size_t>(B) * H);
  const T* hproj = cache->hidden_proj.data();
  const T* gates = cache->gates.data();
  T* dgx = cache->dgates.data();
  T* dgh = cache->dgates_hidden.data();
  T* dh = cache->dh.data();
  std::fill(dh, dh + static_cast<size_t>(B) * H, T(0));
  if (cache->zeros.size() < static_cast<size_t>(H)) cache->zeros.assign(H, T(0));
  const T* zeros = cache->zeros.data();

  // U^T once: as an A B^T product, the per-step dh_{t-1} += dgates_hidden_t
  // U^T transposed U in every call (length times a batch).
  GrowTo(&cache->w_hidden_t, static_cast<size_t>(G) * H);
  T* u_t = cache->w_hidden_t.data();
  Transpose(u_t, weights.w_hidden, H, G);

  const int max_len = MaxLength(lengths, B);
  for (int t = L - 1; t >= 0; --t) {
    for (int b = 0; b < B; ++b) {
      const size_t row = static_cast<size_t>(b) * L + t;
      if (b + kRowPrefetch < B) {
        const size_t ahead = row + static_cast<size_t>(kRowPrefetch) * L;
        PrefetchRow(dgx + ahead * G, G);
        PrefetchRow(dgh + ahead * G, G);
        PrefetchRow(dhidden + ahead * H, H);
        if (t < lengths[b + kRowPrefetch]) {
          PrefetchRow(gates + ahead * G, G);
          PrefetchRow(hproj + ahead * G, G);
          if (t > 0) PrefetchRow(hidden + (ahead - 1) * H, H);
        }
      }
      T* dhb = dh + static_cast<size_t>(b) * H;
      const T* dy = dhidden + row * H;
      T* dx_row = dgx + row * G;
      T* dh_row = dgh + row * G;
      if (t >= lengths[b]) {
        // h_t = h_{t-1}: the gradient passes straight through.
#pragma omp simd
        for (int j = 0; j < H; ++j) dhb[j] += dy[j];
        std::fill(dx_row, dx_row + G, T(0));
        std::fill(dh_row, dh_row + G, T(0));
        continue;
      }
      const T a = attention != nullptr ? attention[row] : T(1);
      const T da = BackwardRow(dhb, dx_row, dh_row, dy, gates + row * G,
                               hproj + row * G,
                               t > 0 ? hidden + (row - 1) * H : zeros,
                               MixFor(variant, a), H);
      if (t == 0) std::fill(dh_row, dh_row + G, T(0));  // h_{-1} is constant
      if (dattention != nullptr && variant != GruVariant::kGru) {
        dattention[row] += da;
      }
    }
    if (t >= 1 && t < max_len) {
      // Recurrent path: dh_{t-1} += dgates_hidden_t U^T for the whole batch.
      Gemm(false, false, B, H, G, T(1), dgh + static_cast<size_t>(t) * G, L * G, u_t, H, T(1),
           dh, H);
    }
  }

  // Weight gradients over all rows. For U, row (b, t) of dgates_hidden pairs
  // with h_{t-1} = hidden row (b, t) - 1; the pair that would straddle two
  // sequences (t = 0) has a zero dgates_hidden row, so one GEMM over the
  // shifted matrices is exact.
  Gemm(true, false, I, G, static_cast<int>(rows), T(1), inputs, I, dgx, G,
       T(1), grads.w_input, G);
  if (rows > 1) {
    Gemm(true, false, H, G, static_cast<int>(rows - 1), T(1), hidden, H,
         dgh + G, G, T(1), grads.w_hidden, G);
  }
  for (size_t r = 0; r < rows; ++r) {
    const T* d = dgx + r * G;
#pragma omp simd
    for (int j = 0; j < G; ++j) grads.bias[j] += d[j];
  }
  if (dinputs != nullptr) {
    Gemm(false, true, static_cast<int>(rows), I, G, T(1), dgx, G,
         weights.w_input, G, T(1), dinputs, I);
  }
}

template <typename T>
void aigru_input_forward(T* scaled, const T* hidden, const T* attention, size_t rows, int dim) {
  for (size_t i = 0; i < rows; ++i) {
    for (int k = 0; k < dim; ++k) scaled[i * dim + k] = attention[i] * hidden[i * dim + k];
  }
}

template <typename T>
void aigru_input_backward(T* dhidden, T* dattention, const T* dscaled, const T* hidden,
                          const T* attention, size_t rows, int dim) {
  for (size_t i = 0; i < rows; ++i) {
    const T* dx = dscaled + i * dim;
    T dot = 0;
    for (int k = 0; k < dim; ++k) {
      if (dhidden != nullptr) dhidden[i * dim + k] += attention[i] * dx[k];
      dot += dx[k] * hidden[i * dim + k];
    }
    if (dattention != nullptr) dattention[i] += dot;
  }
}

template void aigru_input_forward<float>(float*, const float*, const float*, size_t, int);
template void aigru_input_forward<double>(double*, const double*, const double*, size_t, int);
template void aigru_input_backward<float>(float*, float*, const float*, const float*,
                                          const float*, size_t, int);
template void aigru_input_backward<double>(double*, double*, const double*, const double*,
                                           const double*, size_t, int);
template void gru_forward<float>(float*, GruCache<float>*,
                                 const GruWeights<float>&, const float*,
                                 const int32_t*, const float*, GruVariant,
                                 const GruShape&);
template void gru_forward<double>(double*, GruCache<double>*,
                                  const GruWeights<double>&, const double*,
                                  const int32_t*, const double*, GruVariant,
                                  const GruShape&);
template void gru_backward<float>(float*, float*, const GruGrads<float>&,
                                  const float*, GruCache<float>*,
                                  const GruWeights<float>&, const float*,
                                  const float*, const int32_t*, const float*,
                                  GruVariant, const GruShape&);
template void gru_backward<double>(double*, double*, const GruGrads<double>&,
                                   const double*, GruCache<double>*,
                                   const GruWeights<double>&, const double*,
                                   const double*, const int32_t*,
                                   const double*, GruVariant, const GruShape&);

}  // namespace dips
