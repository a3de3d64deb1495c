#include "worker/model/cuda/cuda_context.h"

#include <string>
#include <utility>

#include "worker/model/cuda/cuda_internal.h"

namespace dips {
namespace cuda {
namespace {

std::string CudaMessage(cudaError_t e) {
  return std::string(cudaGetErrorName(e)) + " (" + cudaGetErrorString(e) + ")";
}

Status CudaStatus(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return Status::OK();
  return InternalError(std::string(what) + ": " + CudaMessage(e));
}

}  // namespace

StatusOr<int> DeviceCount() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    // Clear the error so later runtime calls do not report it again.
    cudaGetLastError();
    return UnavailableError("no usable CUDA device: " + CudaMessage(e));
  }
  if (count <= 0) return UnavailableError("no CUDA device present");
  return count;
}

CudaContext::CudaContext(int device, std::unique_ptr<Handles> handles)
    : device_(device), handles_(std::move(handles)) {}

StatusOr<std::unique_ptr<CudaContext>> CudaContext::Create(int device) {
  StatusOr<int> count = DeviceCount();
  if (!count.ok()) return count.status();
  if (device < 0 || device >= *count) {
    return InvalidArgumentError("CUDA device " + std::to_string(device) + " does not exist (" +
                                std::to_string(*count) + " present)");
  }
  RETURN_IF_ERROR(CudaStatus(cudaSetDevice(device), "cudaSetDevice"));
  auto handles = std::make_unique<Handles>();
  RETURN_IF_ERROR(CudaStatus(cudaStreamCreateWithFlags(&handles->stream, cudaStreamNonBlocking),
                             "cudaStreamCreate"));
  if (cublasCreate(&handles->blas) != CUBLAS_STATUS_SUCCESS) {
    cudaStreamDestroy(handles->stream);
    return InternalError("cublasCreate failed");
  }
  // Plain fp32: TF32 tensor-core math would round inputs to 10 mantissa bits
  // and break parity with the CPU layers.
  if (cublasSetStream(handles->blas, handles->stream) != CUBLAS_STATUS_SUCCESS ||
      cublasSetMathMode(handles->blas, CUBLAS_DEFAULT_MATH) != CUBLAS_STATUS_SUCCESS) {
    cublasDestroy(handles->blas);
    cudaStreamDestroy(handles->stream);
    return InternalError("cuBLAS handle setup failed");
  }
  return std::unique_ptr<CudaContext>(new CudaContext(device, std::move(handles)));
}

CudaContext::~CudaContext() {
  if (handles_ == nullptr) return;
  cudaStreamSynchronize(handles_->stream);
  cublasDestroy(handles_->blas);
  cudaStreamDestroy(handles_->stream);
}

void CudaContext::Activate() {
  RecordError(CudaStatus(cudaSetDevice(device_), "cudaSetDevice"));
}

void CudaContext::RecordError(const Status& s) {
  if (status_.ok() && !s.ok()) status_ = s;
}

Status CudaContext::Synchronize() {
  RecordError(CudaStatus(cudaStreamSynchronize(handles_->stream), "stream synchronize"));
  RecordError(CudaStatus(cudaGetLastError(), "asynchronous CUDA error"));
  return status_;
}

std::string CudaContext::DeviceName() const {
  cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, device_) != cudaSuccess) return "unknown";
  return prop.name;
}

Status DeviceAllocate(void** ptr, size_t bytes, CudaContext* ctx) {
  *ptr = nullptr;
  Status s;
  if (bytes > 0) {
    const cudaError_t e = cudaMalloc(ptr, bytes);
    if (e != cudaSuccess) {
      cudaGetLastError();
      *ptr = nullptr;
      s = ResourceExhaustedError("cudaMalloc of " + std::to_string(bytes) +
                                 " bytes: " + CudaMessage(e));
    }
  }
  if (ctx != nullptr) ctx->RecordError(s);
  return s;
}

void DeviceFree(void* ptr) {
  if (ptr != nullptr) cudaFree(ptr);
}

Status CopyBytesToDevice(void* dst, const void* src, size_t bytes, CudaContext* ctx) {
  if (bytes == 0) return Status::OK();
  Status s = CudaStatus(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, StreamOf(ctx)),
                        "copy to device");
  ctx->RecordError(s);
  return s;
}

Status CopyBytesToHost(void* dst, const void* src, size_t bytes, CudaContext* ctx) {
  if (bytes > 0) {
    ctx->RecordError(CudaStatus(
        cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, StreamOf(ctx)), "copy to host"));
  }
  return ctx->Synchronize();
}

Status EnqueueCopyBytesToHost(void* dst, const void* src, size_t bytes, CudaContext* ctx) {
  if (bytes == 0) return Status::OK();
  Status s = CudaStatus(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, StreamOf(ctx)),
                        "copy to host");
  ctx->RecordError(s);
  return s;
}

PinnedBuffer::~PinnedBuffer() {
  if (data_ != nullptr) cudaFreeHost(data_);
}

bool PinnedBuffer::Grow(size_t bytes, CudaContext* ctx) {
  if (bytes <= size_) return true;
  if (data_ != nullptr) {
    if (!ctx->Synchronize().ok()) return false;
    cudaFreeHost(data_);
    data_ = nullptr;
    size_ = 0;
  }
  void* p = nullptr;
  const cudaError_t e = cudaMallocHost(&p, bytes);
  if (e != cudaSuccess) {
    cudaGetLastError();
    ctx->RecordError(ResourceExhaustedError("cudaMallocHost of " + std::to_string(bytes) +
                                            " bytes: " + CudaMessage(e)));
    return false;
  }
  data_ = static_cast<unsigned char*>(p);
  size_ = bytes;
  return true;
}

Status ZeroBytes(void* ptr, size_t bytes, CudaContext* ctx) {
  if (bytes == 0) return Status::OK();
  Status s = CudaStatus(cudaMemsetAsync(ptr, 0, bytes, StreamOf(ctx)), "memset");
  ctx->RecordError(s);
  return s;
}

void RecordLaunch(CudaContext* ctx, const char* kernel) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) ctx->RecordError(InternalError(std::string(kernel) + ": " + CudaMessage(e)));
}

void Gemm(CudaContext* ctx, bool trans_a, bool trans_b, int m, int n, int k, float alpha,
          const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  if (!ctx->ok() || m <= 0 || n <= 0) return;
  const cublasStatus_t s = cublasSgemm(ctx->handles()->blas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                       trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &alpha, b,
                                       ldb, a, lda, &beta, c, ldc);
  if (s != CUBLAS_STATUS_SUCCESS) {
    ctx->RecordError(InternalError(std::string("cublasSgemm failed: ") + cublasGetStatusString(s)));
  }
}

}  // namespace cuda
}  // namespace dips
