// Linear layer, sigmoid/PReLU, the BCE loss and the head-input glue.
#include "worker/model/cuda/cuda_internal.h"
#include "worker/model/cuda/cuda_layers.h"

namespace dips {
namespace cuda {
namespace {

__global__ void BroadcastRowsKernel(float* y, const float* row, int n, int width) {
  const size_t total = static_cast<size_t>(n) * width;
  DIPS_GRID_STRIDE(i, total) { y[i] = row[i % width]; }
}

__global__ void ColumnFinishKernel(float* out, const float* partials, int chunks, int cols) {
  DIPS_GRID_STRIDE(c, static_cast<size_t>(cols)) {
    float sum = 0.0f;
    for (int k = 0; k < chunks; ++k) sum += partials[static_cast<size_t>(k) * cols + c];
    out[c] += sum;
  }
}

__global__ void SigmoidForwardKernel(float* y, const float* x, size_t n) {
  DIPS_GRID_STRIDE(i, n) { y[i] = DeviceSigmoid(x[i]); }
}

__global__ void SigmoidBackwardKernel(float* dx, const float* dy, const float* y, size_t n) {
  DIPS_GRID_STRIDE(i, n) { dx[i] += dy[i] * y[i] * (1.0f - y[i]); }
}

__global__ void PreluForwardKernel(float* y, const float* x, const float* alpha, int n,
                                   int units) {
  const size_t total = static_cast<size_t>(n) * units;
  DIPS_GRID_STRIDE(i, total) {
    const float v = x[i];
    y[i] = v > 0.0f ? v : alpha[i % units] * v;
  }
}

__global__ void PreluBackwardKernel(float* dx, const float* dy, const float* x,
                                    const float* alpha, int n, int units) {
  const size_t total = static_cast<size_t>(n) * units;
  DIPS_GRID_STRIDE(i, total) { dx[i] += x[i] > 0.0f ? dy[i] : alpha[i % units] * dy[i]; }
}

// dalpha[u] += sum over rows of x * dy where x <= 0 (the CPU's subgradient).
struct PreluAlphaGrad {
  const float* dy;
  const float* x;
  int units;
  __device__ float operator()(int r, int c) const {
    const size_t i = static_cast<size_t>(r) * units + c;
    return x[i] > 0.0f ? 0.0f : x[i] * dy[i];
  }
};

// One block: probabilities per sample and the mean BCE, summed in double in
// a fixed tree order (the CPU also sums in double).
constexpr int kLossThreads = 256;

__global__ void BceForwardKernel(float* probs, float* loss, const float* logits,
                                 const float* labels, int n) {
  __shared__ double partial[kLossThreads];
  double total = 0.0;
  for (int i = threadIdx.x; i < n; i += kLossThreads) {
    const float z = logits[i];
    const float e = expf(-fabsf(z));
    probs[i] = z >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
    total += static_cast<double>(z > 0.0f ? z : 0.0f) - static_cast<double>(z) * labels[i] +
             log1p(static_cast<double>(e));
  }
  partial[threadIdx.x] = total;
  __syncthreads();
  for (int s = kLossThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) *loss = n > 0 ? static_cast<float>(partial[0] / n) : 0.0f;
}

__global__ void BceBackwardKernel(float* dlogits, const float* probs, const float* labels, int n,
                                  float k) {
  DIPS_GRID_STRIDE(i, static_cast<size_t>(n)) { dlogits[i] += k * (probs[i] - labels[i]); }
}

__global__ void HeadInputForwardKernel(float* x, const float* extra, const float* target,
                                       const float* pooled, const float* interest, int batch,
                                       int pd, int dim, int u) {
  const int width = pd + 3 * dim + u;
  const size_t total = static_cast<size_t>(batch) * width;
  DIPS_GRID_STRIDE(i, total) {
    const size_t b = i / width;
    int c = static_cast<int>(i % width);
    float v;
    if (c < pd) {
      v = extra[b * pd + c];
    } else if ((c -= pd) < 3 * dim) {
      const int k = c % dim;
      const float va = target[b * dim + k];
      const float s = pooled[b * dim + k];
      v = c < dim ? va : (c < 2 * dim ? s : va * s);
    } else {
      v = interest[b * u + (c - 3 * dim)];
    }
    x[i] = v;
  }
}

__global__ void HeadInputBackwardKernel(float* dextra, float* dtarget, float* dpooled,
                                        float* dinterest, const float* dx, const float* target,
                                        const float* pooled, int batch, int pd, int dim, int u) {
  // One thread per output element of the four gradients, [pd | D | D | u].
  const int width = pd + 2 * dim + u;
  const int xw = pd + 3 * dim + u;
  const size_t total = static_cast<size_t>(batch) * width;
  DIPS_GRID_STRIDE(i, total) {
    const size_t b = i / width;
    int c = static_cast<int>(i % width);
    const float* row = dx + b * xw;
    if (c < pd) {
      dextra[b * pd + c] = row[c];
      continue;
    }
    c -= pd;
    const float* r = row + pd;
    if (c < dim) {
      dtarget[b * dim + c] = r[c] + r[2 * dim + c] * pooled[b * dim + c];
    } else if (c < 2 * dim) {
      const int k = c - dim;
      dpooled[b * dim + k] = r[dim + k] + r[2 * dim + k] * target[b * dim + k];
    } else {
      const int k = c - 2 * dim;
      dinterest[b * u + k] = r[3 * dim + k];
    }
  }
}

}  // namespace

void FinishColumnSums(float* out, const float* partials, int chunks, int cols, CudaContext* ctx) {
  ColumnFinishKernel<<<BlocksFor(cols), kThreads, 0, StreamOf(ctx)>>>(out, partials, chunks, cols);
  RecordLaunch(ctx, "ColumnFinish");
}

void linear_forward(float* y, const float* x, const float* w, const float* b, int n, int in,
                    int out, CudaContext* ctx) {
  if (!ctx->ok() || n <= 0) return;
  // Seed y with the bias so the GEMM adds into it (beta = 1), as on the CPU.
  float beta = 0.0f;
  if (b != nullptr) {
    const size_t total = static_cast<size_t>(n) * out;
    BroadcastRowsKernel<<<BlocksFor(total), kThreads, 0, StreamOf(ctx)>>>(y, b, n, out);
    RecordLaunch(ctx, "BroadcastRows");
    beta = 1.0f;
  }
  Gemm(ctx, false, false, n, out, in, 1.0f, x, in, w, out, beta, y, out);
}

void linear_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                     const float* w, int n, int in, int out, CudaContext* ctx) {
  if (!ctx->ok() || n <= 0) return;
  if (dx != nullptr) Gemm(ctx, false, true, n, in, out, 1.0f, dy, out, w, out, 1.0f, dx, in);
  if (dw != nullptr) Gemm(ctx, true, false, in, out, n, 1.0f, x, in, dy, out, 1.0f, dw, out);
  if (db != nullptr) ColumnAccumulate(db, n, out, MatrixEntry{dy, out}, ctx);
}

void sigmoid_forward(float* y, const float* x, size_t n, CudaContext* ctx) {
  if (!ctx->ok() || n == 0) return;
  SigmoidForwardKernel<<<BlocksFor(n), kThreads, 0, StreamOf(ctx)>>>(y, x, n);
  RecordLaunch(ctx, "SigmoidForward");
}

void sigmoid_backward(float* dx, const float* dy, const float* y, size_t n, CudaContext* ctx) {
  if (!ctx->ok() || n == 0) return;
  SigmoidBackwardKernel<<<BlocksFor(n), kThreads, 0, StreamOf(ctx)>>>(dx, dy, y, n);
  RecordLaunch(ctx, "SigmoidBackward");
}

void prelu_forward(float* y, const float* x, const float* alpha, int n, int units,
                   CudaContext* ctx) {
  const size_t total = static_cast<size_t>(n) * units;
  if (!ctx->ok() || total == 0) return;
  PreluForwardKernel<<<BlocksFor(total), kThreads, 0, StreamOf(ctx)>>>(y, x, alpha, n, units);
  RecordLaunch(ctx, "PreluForward");
}

void prelu_backward(float* dx, float* dalpha, const float* dy, const float* x, const float* alpha,
                    int n, int units, CudaContext* ctx) {
  const size_t total = static_cast<size_t>(n) * units;
  if (!ctx->ok() || total == 0) return;
  if (dx != nullptr) {
    PreluBackwardKernel<<<BlocksFor(total), kThreads, 0, StreamOf(ctx)>>>(dx, dy, x, alpha, n,
                                                                         units);
    RecordLaunch(ctx, "PreluBackward");
  }
  if (dalpha != nullptr) ColumnAccumulate(dalpha, n, units, PreluAlphaGrad{dy, x, units}, ctx);
}

void sigmoid_bce_forward(float* probs, float* loss, const float* logits, const float* labels,
                         int n, CudaContext* ctx) {
  if (!ctx->ok()) return;
  BceForwardKernel<<<1, kLossThreads, 0, StreamOf(ctx)>>>(probs, loss, logits, labels, n);
  RecordLaunch(ctx, "BceForward");
}

void sigmoid_bce_backward(float* dlogits, const float* probs, const float* labels, int n,
                          float scale, CudaContext* ctx) {
  if (!ctx->ok() || n <= 0) return;
  BceBackwardKernel<<<BlocksFor(n), kThreads, 0, StreamOf(ctx)>>>(dlogits, probs, labels, n,
                                                                 scale / static_cast<float>(n));
  RecordLaunch(ctx, "BceBackward");
}

void head_input_forward(float* x, const float* extra, const float* target, const float* pooled,
                        const float* interest, int batch, int pd, int dim, int u,
                        CudaContext* ctx) {
  const size_t total = static_cast<size_t>(batch) * (pd + 3 * dim + u);
  if (!ctx->ok() || total == 0) return;
  HeadInputForwardKernel<<<BlocksFor(total), kThreads, 0, StreamOf(ctx)>>>(
      x, extra, target, pooled, interest, batch, pd, dim, u);
  RecordLaunch(ctx, "HeadInputForward");
}

void head_input_backward(float* dextra, float* dtarget, float* dpooled, float* dinterest,
                         const float* dx, const float* target, const float* pooled, int batch,
                         int pd, int dim, int u, CudaContext* ctx) {
  const size_t total = static_cast<size_t>(batch) * (pd + 2 * dim + u);
  if (!ctx->ok() || total == 0) return;
  HeadInputBackwardKernel<<<BlocksFor(total), kThreads, 0, StreamOf(ctx)>>>(
      dextra, dtarget, dpooled, dinterest, dx, target, pooled, batch, pd, dim, u);
  RecordLaunch(ctx, "HeadInputBackward");
}

}  // namespace cuda
}  // namespace dips
