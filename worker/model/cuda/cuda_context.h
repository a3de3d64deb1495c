// The CUDA backend's execution context and device memory.
//
// A CudaContext owns one CUDA stream and one cuBLAS handle on one device.
// Every layer function in cuda_layers.h enqueues its work on a context's
// stream and returns at once; the host sees results only after
// Synchronize() or a CopyToHost().
//
// Errors are sticky, like CUDA's own: a failed allocation, cuBLAS call or
// kernel launch is recorded in the context, later layer calls on it do
// nothing, and Synchronize() returns the first error as a Status. So a caller
// checks one Status per training step instead of one per layer.
//
// Not thread-safe: use a context from one thread at a time (one context per
// training thread). This header needs no CUDA headers, so plain C++
// translation units can use the backend.
#ifndef DIPS_WORKER_MODEL_CUDA_CUDA_CONTEXT_H_
#define DIPS_WORKER_MODEL_CUDA_CUDA_CONTEXT_H_

#include <cstddef>
#include <memory>
#include <string>

#include "common/status.h"

namespace dips {
namespace cuda {

// Number of usable CUDA devices, or Unavailable (no driver, no device, or a
// driver older than the runtime) with CUDA's reason in the message.
StatusOr<int> DeviceCount();

class CudaContext {
 public:
  // Opens `device`: Unavailable when there is no usable device, Internal when
  // the stream or cuBLAS handle cannot be created.
  static StatusOr<std::unique_ptr<CudaContext>> Create(int device = 0);

  ~CudaContext();
  CudaContext(const CudaContext&) = delete;
  CudaContext& operator=(const CudaContext&) = delete;

  // Waits for all work enqueued so far; returns the first error recorded
  // since the context was created (errors are not cleared: a context that
  // failed stays failed, as the device state may be corrupt).
  Status Synchronize();

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  // Keeps the first error; later ones are usually its consequences.
  void RecordError(const Status& s);

  int device() const { return device_; }
  // Makes this context's device the calling thread's current one (each
  // thread starts on device 0). Call it before enqueueing work from a thread
  // other than the creating one; errors are recorded like any other.
  void Activate();
  std::string DeviceName() const;

  // CUDA stream and cuBLAS handle, for the backend's own sources
  // (cuda_internal.h turns them into cudaStream_t / cublasHandle_t).
  struct Handles;
  Handles* handles() const { return handles_.get(); }

 private:
  CudaContext(int device, std::unique_ptr<Handles> handles);

  int device_;
  std::unique_ptr<Handles> handles_;
  Status status_;
};

// Raw device memory, for DeviceBuffer. On failure they record the error in
// `ctx` (when given) and return it.
Status DeviceAllocate(void** ptr, size_t bytes, CudaContext* ctx);
void DeviceFree(void* ptr);
// Enqueued on ctx's stream. From pageable memory, the source of a
// host-to-device copy may be reused as soon as the call returns; from pinned
// memory (PinnedBuffer) the copy runs asynchronously and the source must
// stay unchanged until the next Synchronize. CopyBytesToHost waits for the
// copy (and all earlier work on the stream) to finish.
Status CopyBytesToDevice(void* dst, const void* src, size_t bytes, CudaContext* ctx);
Status CopyBytesToHost(void* dst, const void* src, size_t bytes, CudaContext* ctx);
// A device-to-host copy that only enqueues: `dst` (pinned, for the copy to
// be asynchronous) holds the data after the next Synchronize.
Status EnqueueCopyBytesToHost(void* dst, const void* src, size_t bytes, CudaContext* ctx);
Status ZeroBytes(void* ptr, size_t bytes, CudaContext* ctx);

// A grow-only device array (like worker/model/workspace.h's Grow): after the
// first step of a shape, later steps allocate nothing. Contents are kept
// only while the size does not grow. Move-only.
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer() { DeviceFree(data_); }
  DeviceBuffer(DeviceBuffer&& o) noexcept : data_(o.data_), size_(o.size_) {
    o.data_ = nullptr;
    o.size_ = 0;
  }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      DeviceFree(data_);
      data_ = o.data_;
      size_ = o.size_;
      o.data_ = nullptr;
      o.size_ = 0;
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  // Ensures room for n elements; false (error recorded in ctx) on failure.
  bool Grow(size_t n, CudaContext* ctx) {
    if (n <= size_) return true;
    DeviceFree(data_);
    data_ = nullptr;
    size_ = 0;
    void* p = nullptr;
    if (!DeviceAllocate(&p, n * sizeof(T), ctx).ok()) return false;
    data_ = static_cast<T*>(p);
    size_ = n;
    return true;
  }
  // Grow(n), then zero the first n elements (for accumulated gradients).
  bool GrowZeroed(size_t n, CudaContext* ctx) {
    return Grow(n, ctx) && ZeroBytes(data_, n * sizeof(T), ctx).ok();
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  T* data_ = nullptr;
  size_t size_ = 0;
};

// Page-locked host memory (cudaMallocHost) for staging copies that run
// asynchronously, grow-only like DeviceBuffer. The host must not touch the
// bytes while a copy from or to them may still run, i.e. until the
// context's next Synchronize. Move-only.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  ~PinnedBuffer();
  PinnedBuffer(PinnedBuffer&& o) noexcept : data_(o.data_), size_(o.size_) {
    o.data_ = nullptr;
    o.size_ = 0;
  }
  PinnedBuffer& operator=(PinnedBuffer&&) = delete;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  // Ensures room for `bytes`; contents are not kept when it grows (it first
  // waits for ctx's stream, so no copy still uses the old memory). False
  // (error recorded in ctx) on failure.
  bool Grow(size_t bytes, CudaContext* ctx);

  unsigned char* data() { return data_; }
  size_t size() const { return size_; }

 private:
  unsigned char* data_ = nullptr;
  size_t size_ = 0;
};

template <typename T>
Status CopyToDevice(T* dst, const T* src, size_t n, CudaContext* ctx) {
  return CopyBytesToDevice(dst, src, n * sizeof(T), ctx);
}
template <typename T>
Status CopyToHost(T* dst, const T* src, size_t n, CudaContext* ctx) {
  return CopyBytesToHost(dst, src, n * sizeof(T), ctx);
}

}  // namespace cuda
}  // namespace dips

#endif  // DIPS_WORKER_MODEL_CUDA_CUDA_CONTEXT_H_
