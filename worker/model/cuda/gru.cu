// GRU / AUGRU / AGRU on the device, step for step the computation of
// worker/model/layers/gru.cc (read it for the layout and the equations),
// and AIGRU's input scaling.
//
// Row (b, t) of a [batch*length x k] matrix is b*length + t, so one step's
// rows across the batch are `length` rows apart: cuBLAS takes that as the
// leading dimension and each per-step GEMM reads h_{t-1} and writes
// h_{t-1} U in place, as CBLAS does on the CPU.
#include <glog/logging.h>

#include <algorithm>
#include <atomic>

#include "worker/model/cuda/cuda_internal.h"
#include "worker/model/cuda/cuda_layers.h"

namespace dips {
namespace cuda {
namespace {

// The mixing gate m = k_u * u + k_0 and dm/da = d_u * u + d_1 (gru.cc's Mix).
struct Mix {
  float k_u, k_0, d_u, d_1;
};

__device__ inline Mix MixFor(int variant, float a) {
  if (variant == static_cast<int>(GruVariant::kAugru)) return {a, 0.0f, 1.0f, 0.0f};
  if (variant == static_cast<int>(GruVariant::kAgru)) return {0.0f, a, 0.0f, 1.0f};
  if (variant == static_cast<int>(GruVariant::kAugruReference)) return {1.0f - a, a, -1.0f, 1.0f};
  return {1.0f, 0.0f, 0.0f, 0.0f};
}

// Cell j of one valid row, forward: writes its gates u, r, h~ into g (the
// row's [3H] cache) and returns h_t[j]. xp and hp are the row's input and
// recurrent projections (hp = h_{t-1} U), hprev = h_{t-1}[j].
__device__ inline float CellForward(float* g, const float* xp, const float* hp,
                                    const float* bias, const Mix& mix, float hprev, int j,
                                    int H) {
  const float u = DeviceSigmoid(xp[j] + hp[j] + bias[j]);
  const float r = DeviceSigmoid(xp[H + j] + hp[H + j] + bias[H + j]);
  const float hc = tanhf(xp[2 * H + j] + r * hp[2 * H + j] + bias[2 * H + j]);
  g[j] = u;
  g[H + j] = r;
  g[2 * H + j] = hc;
  const float m = mix.k_u * u + mix.k_0;
  return hprev + m * (hc - hprev);
}

// Cell j of one valid row, backward, given dht = dL/dh_t[j]: writes the
// gradients of the gate pre-activations on the input side (dx_row) and on
// the recurrent side (dh_row, and dh_copy when not null; zero at t = 0,
// since h_{-1} is a constant), adds dL/da_t's share to *da and returns the
// direct part of dL/dh_{t-1}[j].
__device__ inline float CellBackward(float* dx_row, float* dh_row, float* dh_copy, const float* g,
                                     const float* hp, const Mix& mix, float dht, float hprev,
                                     bool first, int j, int H, float* da) {
  const float u = g[j], r = g[H + j], hc = g[2 * H + j];
  const float m = mix.k_u * u + mix.k_0;
  const float dm = dht * (hc - hprev);
  *da += dm * (mix.d_u * u + mix.d_1);
  const float du_pre = dm * mix.k_u * u * (1.0f - u);
  const float dhc_pre = dht * m * (1.0f - hc * hc);
  const float dr_pre = dhc_pre * hp[2 * H + j] * r * (1.0f - r);
  dx_row[j] = du_pre;
  dx_row[H + j] = dr_pre;
  dx_row[2 * H + j] = dhc_pre;
  const float rec[3] = {first ? 0.0f : du_pre, first ? 0.0f : dr_pre,
                        first ? 0.0f : dhc_pre * r};
  for (int k = 0; k < 3; ++k) {
    dh_row[k * H + j] = rec[k];
    if (dh_copy != nullptr) dh_copy[k * H + j] = rec[k];
  }
  return dht * (1.0f - m);
}

// One thread per (b, j): gates j, H+j, 2H+j of row (b, t) only depend on
// column j of the projections.
__global__ void GruForwardStepKernel(float* hidden, float* gates, float* hproj,
                                     const float* xproj, const float* bias,
                                     const int32_t* lengths, const float* attention, int variant,
                                     int t, int batch, int length, int H) {
  const size_t total = static_cast<size_t>(batch) * H;
  const int G = 3 * H;
  DIPS_GRID_STRIDE(i, total) {
    const int b = static_cast<int>(i / H);
    const int j = static_cast<int>(i % H);
    const size_t row = static_cast<size_t>(b) * length + t;
    float* h = hidden + row * H;
    if (t >= lengths[b]) {
      // Padding carries the state; before the first step it is h_0 = 0.
      h[j] = t == 0 ? 0.0f : h[j - H];
      continue;
    }
    float* hp = hproj + row * G;
    if (t == 0) {  // h_{-1} U = 0; stored because backward reads it
      hp[j] = 0.0f;
      hp[H + j] = 0.0f;
      hp[2 * H + j] = 0.0f;
    }
    const Mix mix = MixFor(variant, attention != nullptr ? attention[row] : 1.0f);
    h[j] = CellForward(gates + row * G, xproj + row * G, hp, bias, mix, t > 0 ? h[j - H] : 0.0f,
                       j, H);
  }
}

// One warp per sequence b (dL/da_t is a sum over j). dh: on entry the
// gradient w.r.t. h_t from later steps, on exit its direct part w.r.t.
// h_{t-1}; the recurrent part is added by the caller's GEMM.
__global__ void GruBackwardStepKernel(float* dh, float* dgx, float* dgh, float* dattention,
                                      const float* dhidden, const float* gates,
                                      const float* hproj, const float* hidden,
                                      const int32_t* lengths, const float* attention,
                                      int variant, int t, int batch, int length, int H) {
  const int b = (blockIdx.x * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (b >= batch) return;
  const int G = 3 * H;
  const size_t row = static_cast<size_t>(b) * length + t;
  float* dhb = dh + static_cast<size_t>(b) * H;
  const float* dy = dhidden + row * H;
  float* dx_row = dgx + row * G;
  float* dh_row = dgh + row * G;
  if (t >= lengths[b]) {
    // h_t = h_{t-1}: the gradient passes straight through.
    for (int j = lane; j < H; j += 32) dhb[j] += dy[j];
    for (int j = lane; j < G; j += 32) {
      dx_row[j] = 0.0f;
      dh_row[j] = 0.0f;
    }
    return;
  }
  const Mix mix = MixFor(variant, attention != nullptr ? attention[row] : 1.0f);
  const float* g = gates + row * G;
  const float* hp = hproj + row * G;
  const float* hprev = t > 0 ? hidden + (row - 1) * H : nullptr;
  float da = 0.0f;
  for (int j = lane; j < H; j += 32) {
    dhb[j] = CellBackward(dx_row, dh_row, nullptr, g, hp, mix, dhb[j] + dy[j],
                          hprev != nullptr ? hprev[j] : 0.0f, t == 0, j, H, &da);
  }
  da = WarpSum(da);
  if (lane == 0 && dattention != nullptr && variant != static_cast<int>(GruVariant::kGru)) {
    dattention[row] += da;
  }
}

// ---- Fused recurrence: one launch per pass ---------------------------------
// A block of kFusedWarps warps holds U [H x 3H] in shared memory; warp w owns
// sequence blockIdx.x * kFusedWarps + w and walks all its steps, so only
// __syncwarp orders the steps. Per step and lane: outputs k = lane, lane + 32,
// ... of the 3H-wide products, then the cells j = lane, lane + 32, ... The
// cell arithmetic is the per-step kernels' above, line for line.
constexpr int kFusedWarps = 4;

size_t FusedForwardFloats(int H) {
  return static_cast<size_t>(H) * 3 * H + kFusedWarps * (3 * static_cast<size_t>(H) + 2 * H);
}
size_t FusedBackwardFloats(int H) {
  return static_cast<size_t>(H) * 3 * H + kFusedWarps * (3 * static_cast<size_t>(H) + H);
}

__device__ inline void LoadToShared(float* dst, const float* src, int n) {
  for (int i = threadIdx.x; i < n; i += blockDim.x) dst[i] = src[i];
}

__global__ void GruForwardFusedKernel(float* hidden, float* gates, float* hproj,
                                      const float* xproj, const float* w_hidden,
                                      const float* bias, const int32_t* lengths,
                                      const float* attention, int variant, int batch, int length,
                                      int H) {
  extern __shared__ float shared[];
  const int G = 3 * H;
  float* U = shared;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float* hp = U + static_cast<size_t>(H) * G + warp * (G + 2 * H);  // h_{t-1} U
  float* state[2] = {hp + G, hp + G + H};                          // h_{t-1}, h_t
  LoadToShared(U, w_hidden, H * G);
  __syncthreads();
  const int b = blockIdx.x * kFusedWarps + warp;
  if (b >= batch) return;  // whole warps; no block barrier follows
  const int valid = lengths[b];
  for (int j = lane; j < H; j += 32) state[0][j] = 0.0f;
  __syncwarp();
  for (int t = 0; t < length; ++t) {
    const float* hprev = state[t & 1];
    float* hnext = state[(t + 1) & 1];
    const size_t row = static_cast<size_t>(b) * length + t;
    float* h = hidden + row * H;
    if (t >= valid) {  // padding carries the state (h_0 = 0 before any step)
      for (int j = lane; j < H; j += 32) h[j] = hnext[j] = hprev[j];
      __syncwarp();
      continue;
    }
    float* hp_row = hproj + row * G;
    for (int k = lane; k < G; k += 32) {
      float acc = 0.0f;
      if (t > 0) {
        for (int j = 0; j < H; ++j) acc += hprev[j] * U[j * G + k];
      }
      hp[k] = acc;
      hp_row[k] = acc;  // backward reads it
    }
    __syncwarp();
    const Mix mix = MixFor(variant, attention != nullptr ? attention[row] : 1.0f);
    for (int j = lane; j < H; j += 32) {
      h[j] = hnext[j] = CellForward(gates + row * G, xproj + row * G, hp, bias, mix, hprev[j], j, H);
    }
    __syncwarp();
  }
}

__global__ void GruBackwardFusedKernel(float* dgx, float* dgh, float* dattention,
                                       const float* dhidden, const float* gates,
                                       const float* hproj, const float* hidden,
                                       const float* w_hidden, const int32_t* lengths,
                                       const float* attention, int variant, int batch,
                                       int length, int H) {
  extern __shared__ float shared[];
  const int G = 3 * H;
  float* U = shared;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float* dgh_step = U + static_cast<size_t>(H) * G + warp * (G + H);  // this step's dgh row
  float* dh = dgh_step + G;  // dL/dh_t from later steps
  LoadToShared(U, w_hidden, H * G);
  __syncthreads();
  const int b = blockIdx.x * kFusedWarps + warp;
  if (b >= batch) return;
  const int valid = lengths[b];
  for (int j = lane; j < H; j += 32) dh[j] = 0.0f;
  __syncwarp();
  for (int t = length - 1; t >= 0; --t) {
    const size_t row = static_cast<size_t>(b) * length + t;
    const float* dy = dhidden + row * H;
    float* dx_row = dgx + row * G;
    float* dh_row = dgh + row * G;
    if (t >= valid) {  // h_t = h_{t-1}: the gradient passes straight through
      for (int j = lane; j < H; j += 32) dh[j] += dy[j];
      for (int j = lane; j < G; j += 32) dx_row[j] = dh_row[j] = 0.0f;
      __syncwarp();
      continue;
    }
    const Mix mix = MixFor(variant, attention != nullptr ? attention[row] : 1.0f);
    const float* g = gates + row * G;
    const float* hp = hproj + row * G;
    const float* hprev = t > 0 ? hidden + (row - 1) * H : nullptr;
    const bool first = t == 0;
    float da = 0.0f;
    for (int j = lane; j < H; j += 32) {
      dh[j] = CellBackward(dx_row, dh_row, dgh_step, g, hp, mix, dh[j] + dy[j],
                           hprev != nullptr ? hprev[j] : 0.0f, first, j, H, &da);
    }
    da = WarpSum(da);
    if (lane == 0 && dattention != nullptr && variant != static_cast<int>(GruVariant::kGru)) {
      dattention[row] += da;
    }
    __syncwarp();
    if (!first) {  // recurrent path: dh_{t-1} += dgh_t U^T
      for (int j = lane; j < H; j += 32) {
        float acc = 0.0f;
        for (int k = 0; k < G; ++k) acc += dgh_step[k] * U[j * G + k];
        dh[j] += acc;
      }
    }
    __syncwarp();
  }
}

// Shared memory a block may use on ctx's device (the opt-in limit), cached.
size_t SharedMemoryLimit(CudaContext* ctx) {
  static std::atomic<int> cached[64] = {};  // training threads share it
  const int device = ctx->device();
  if (device < 0 || device >= 64) return 48 * 1024;
  if (cached[device].load() == 0) {
    int bytes = 0;
    if (cudaDeviceGetAttribute(&bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) !=
            cudaSuccess ||
        bytes <= 0) {
      cudaGetLastError();  // not sticky; fall back to the default limit
      bytes = 48 * 1024;
    }
    cached[device] = bytes;
  }
  return static_cast<size_t>(cached[device].load());
}

// Launches a fused kernel with `floats` of dynamic shared memory, raising
// the kernel's limit above the default 48 KiB when needed.
template <typename Kernel, typename... Args>
void LaunchFused(Kernel kernel, const char* name, size_t floats, int batch, CudaContext* ctx,
                 Args... args) {
  const size_t bytes = floats * sizeof(float);
  if (bytes > 48 * 1024 &&
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           static_cast<int>(bytes)) != cudaSuccess) {
    RecordLaunch(ctx, name);
    return;
  }
  const int blocks = (batch + kFusedWarps - 1) / kFusedWarps;
  kernel<<<blocks, kFusedWarps * 32, bytes, StreamOf(ctx)>>>(args...);
  RecordLaunch(ctx, name);
}

bool UseFused(GruRecurrence recurrence, int H, CudaContext* ctx) {
  return recurrence == GruRecurrence::kAuto && GruFusedFits(H, ctx);
}

__global__ void AigruInputForwardKernel(float* scaled, const float* hidden,
                                        const float* attention, size_t total, int dim) {
  DIPS_GRID_STRIDE(i, total) { scaled[i] = attention[i / dim] * hidden[i]; }
}

__global__ void AigruInputHiddenGradKernel(float* dhidden, const float* dscaled,
                                           const float* attention, size_t total, int dim) {
  DIPS_GRID_STRIDE(i, total) { dhidden[i] += attention[i / dim] * dscaled[i]; }
}

// One warp per row: dattention[i] += sum_k dscaled[i, k] * hidden[i, k].
__global__ void AigruInputAttentionGradKernel(float* dattention, const float* dscaled,
                                              const float* hidden, size_t rows, int dim) {
  const size_t warp = (static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const size_t warps = static_cast<size_t>(gridDim.x) * blockDim.x / 32;
  const int lane = threadIdx.x % 32;
  for (size_t i = warp; i < rows; i += warps) {
    const float* dx = dscaled + i * dim;
    const float* h = hidden + i * dim;
    float dot = 0.0f;
    for (int k = lane; k < dim; k += 32) dot += dx[k] * h[k];
    dot = WarpSum(dot);
    if (lane == 0) dattention[i] += dot;
  }
}

}  // namespace

bool GruFusedFits(int hidden, CudaContext* ctx) {
  const size_t floats = std::max(FusedForwardFloats(hidden), FusedBackwardFloats(hidden));
  return hidden >= 1 && floats * sizeof(float) <= SharedMemoryLimit(ctx);
}

void aigru_input_forward(float* scaled, const float* hidden, const float* attention, size_t rows,
                         int dim, CudaContext* ctx) {
  const size_t total = rows * static_cast<size_t>(dim);
  if (!ctx->ok() || total == 0) return;
  AigruInputForwardKernel<<<BlocksFor(total), kThreads, 0, StreamOf(ctx)>>>(scaled, hidden,
                                                                            attention, total, dim);
  RecordLaunch(ctx, "AigruInputForward");
}

void aigru_input_backward(float* dhidden, float* dattention, const float* dscaled,
                          const float* hidden, const float* attention, size_t rows, int dim,
                          CudaContext* ctx) {
  const size_t total = rows * static_cast<size_t>(dim);
  if (!ctx->ok() || total == 0) return;
  if (dhidden != nullptr) {
    AigruInputHiddenGradKernel<<<BlocksFor(total), kThreads, 0, StreamOf(ctx)>>>(
        dhidden, dscaled, attention, total, dim);
    RecordLaunch(ctx, "AigruInputHiddenGrad");
  }
  if (dattention != nullptr) {
    AigruInputAttentionGradKernel<<<BlocksFor(rows * 32), kThreads, 0, StreamOf(ctx)>>>(
        dattention, dscaled, hidden, rows, dim);
    RecordLaunch(ctx, "AigruInputAttentionGrad");
  }
}

void gru_forward(float* hidden, GruCache* cache, const GruWeights<float>& weights,
                 const float* inputs, const int32_t* lengths, const float* attention,
                 GruVariant variant, const GruShape& shape, CudaContext* ctx,
                 GruRecurrence recurrence) {
  CHECK(variant == GruVariant::kGru || attention != nullptr) << "AUGRU/AGRU need attention";
  CHECK(shape.batch >= 0 && shape.length >= 1 && shape.input_dim >= 1 && shape.hidden >= 1);
  const int B = shape.batch, L = shape.length, I = shape.input_dim;
  const int H = shape.hidden, G = 3 * H;
  const size_t rows = static_cast<size_t>(B) * L;
  if (!ctx->ok() || rows == 0) return;
  if (!cache->input_proj.Grow(rows * G, ctx) || !cache->hidden_proj.Grow(rows * G, ctx) ||
      !cache->gates.Grow(rows * G, ctx)) {
    return;
  }
  float* xproj = cache->input_proj.data();
  float* hproj = cache->hidden_proj.data();
  // Input projection of every (b, t) at once.
  Gemm(ctx, false, false, static_cast<int>(rows), G, I, 1.0f, inputs, I, weights.w_input, G,
       0.0f, xproj, G);
  if (UseFused(recurrence, H, ctx)) {
    LaunchFused(GruForwardFusedKernel, "GruForwardFused", FusedForwardFloats(H), B, ctx, hidden,
                cache->gates.data(), hproj, static_cast<const float*>(xproj), weights.w_hidden,
                weights.bias, lengths, attention, static_cast<int>(variant), B, L, H);
    return;
  }
  const size_t cells = static_cast<size_t>(B) * H;
  for (int t = 0; t < L; ++t) {
    if (t >= 1) {
      // h_{t-1} U for the whole batch: rows t-1 and t of each sequence.
      Gemm(ctx, false, false, B, G, H, 1.0f, hidden + static_cast<size_t>(t - 1) * H, L * H,
           weights.w_hidden, G, 0.0f, hproj + static_cast<size_t>(t) * G, L * G);
    }
    GruForwardStepKernel<<<BlocksFor(cells), kThreads, 0, StreamOf(ctx)>>>(
        hidden, cache->gates.data(), hproj, xproj, weights.bias, lengths, attention,
        static_cast<int>(variant), t, B, L, H);
  }
  RecordLaunch(ctx, "GruForwardStep");
}

void gru_backward(float* dinputs, float* dattention, const GruGrads<float>& grads,
                  const float* dhidden, GruCache* cache, const GruWeights<float>& weights,
                  const float* inputs, const float* hidden, const int32_t* lengths,
                  const float* attention, GruVariant variant, const GruShape& shape,
                  CudaContext* ctx, GruRecurrence recurrence) {
  const int B = shape.batch, L = shape.length, I = shape.input_dim;
  const int H = shape.hidden, G = 3 * H;
  const size_t rows = static_cast<size_t>(B) * L;
  if (!ctx->ok() || rows == 0) return;
  CHECK_GE(cache->gates.size(), rows * G) << "gru_backward needs the cache of its forward";
  if (!cache->dgates.Grow(rows * G, ctx) || !cache->dgates_hidden.Grow(rows * G, ctx) ||
      !cache->dh.GrowZeroed(static_cast<size_t>(B) * H, ctx)) {
    return;
  }
  float* dgx = cache->dgates.data();
  float* dgh = cache->dgates_hidden.data();
  float* dh = cache->dh.data();
  if (UseFused(recurrence, H, ctx)) {
    LaunchFused(GruBackwardFusedKernel, "GruBackwardFused", FusedBackwardFloats(H), B, ctx, dgx,
                dgh, dattention, dhidden, static_cast<const float*>(cache->gates.data()),
                static_cast<const float*>(cache->hidden_proj.data()), hidden, weights.w_hidden,
                lengths, attention, static_cast<int>(variant), B, L, H);
  } else {
    const int blocks = (B * 32 + kThreads - 1) / kThreads;
    for (int t = L - 1; t >= 0; --t) {
      GruBackwardStepKernel<<<blocks, kThreads, 0, StreamOf(ctx)>>>(
          dh, dgx, dgh, dattention, dhidden, cache->gates.data(), cache->hidden_proj.data(),
          hidden, lengths, attention, static_cast<int>(variant), t, B, L, H);
      if (t >= 1) {
        // Recurrent path: dh_{t-1} += dgates_hidden_t U^T for the whole batch.
        Gemm(ctx, false, true, B, H, G, 1.0f, dgh + static_cast<size_t>(t) * G, L * G,
             weights.w_hidden, G, 1.0f, dh, H);
      }
    }
    RecordLaunch(ctx, "GruBackwardStep");
  }

  // Weight gradients over all rows; row (b, t) of dgates_hidden pairs with
  // hidden row (b, t) - 1, and the pair straddling two sequences (t = 0) has
  // a zero dgates_hidden row, so one GEMM over shifted matrices is exact.
  if (grads.w_input != nullptr) {
    Gemm(ctx, true, false, I, G, static_cast<int>(rows), 1.0f, inputs, I, dgx, G, 1.0f,
         grads.w_input, G);
  }
  if (grads.w_hidden != nullptr && rows > 1) {
    Gemm(ctx, true, false, H, G, static_cast<int>(rows - 1), 1.0f, hidden, H, dgh + G, G, 1.0f,
         grads.w_hidden, G);
  }
  if (grads.bias != nullptr) {
    ColumnAccumulate(grads.bias, static_cast<int>(rows), G, MatrixEntry{dgx, G}, ctx);
  }
  if (dinputs != nullptr) {
    Gemm(ctx, false, true, static_cast<int>(rows), I, G, 1.0f, dgx, G, weights.w_input, G, 1.0f,
         dinputs, I);
  }
}

}  // namespace cuda
}  // namespace dips
