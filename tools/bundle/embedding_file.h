// The rows file of a serving bundle (docs/serving.md): every exported
// embedding row, keys sorted, so a reader maps the file and finds a row by
// binary search without loading anything into memory.
//
//   header (64 bytes, little-endian)
//     0   char[8]  magic "DIPSEMB1"
//     8   u32      format version (1)
//     12  u32      dim
//     16  u32      precision (bundle::RowPrecision: 0 fp32, 1 fp16)
//     20  u32      reserved (0)
//     24  u64      n, number of rows
//     32  u64      offset of the keys (64)
//     40  u64      offset of the values (64 + 8n)
//     48  u64[2]   reserved (0)
//   keys    u64[n], strictly ascending
//   values  n * dim floats (4 bytes) or halves (2 bytes), row i for key i
//   footer (16 bytes)
//     char[8] "DIPSEND1", u64 n
//
// The whole file's CRC-32 is in the bundle manifest; Open checks only the
// structure (sizes, footer, key order), so the caller verifies the digest
// first.
#ifndef DIPS_TOOLS_BUNDLE_EMBEDDING_FILE_H_
#define DIPS_TOOLS_BUNDLE_EMBEDDING_FILE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "proto/bundle.pb.h"
#include "ps/checkpoint/file_io.h"

namespace dips {

// Writes n rows (keys strictly ascending, values [n x dim] floats, converted
// to `precision`) to path + ".tmp", fsyncs it and renames it to `path`.
// InvalidArgument for unsorted keys or dim < 1; IOError on write errors.
StatusOr<FileDigest> WriteEmbeddingFile(const std::string& path, int dim,
                                        bundle::RowPrecision precision, const uint64_t* keys,
                                        const float* values, size_t n);

// A read-only, memory-mapped rows file. Thread-safe: nothing changes after
// Open.
class EmbeddingFile {
 public:
  // Maps `path`. Corruption (naming the file) for a bad magic, version or
  // precision, a size that disagrees with the header, a damaged footer or
  // keys out of order; NotFound / IOError when it cannot be read.
  static StatusOr<std::unique_ptr<EmbeddingFile>> Open(const std::string& path);
  ~EmbeddingFile();
  EmbeddingFile(const EmbeddingFile&) = delete;
  EmbeddingFile& operator=(const EmbeddingFile&) = delete;

  int dim() const { return dim_; }
  bundle::RowPrecision precision() const { return precision_; }
  uint64_t rows() const { return rows_; }

  // If `key` has a row, writes its dim floats to out and returns true;
  // otherwise returns false and leaves out alone. O(log n).
  bool Lookup(uint64_t key, float* out) const;

 private:
  EmbeddingFile() = default;

  void* map_ = nullptr;
  size_t map_bytes_ = 0;
  int dim_ = 0;
  bundle::RowPrecision precision_ = bundle::ROW_PRECISION_FP32;
  uint64_t rows_ = 0;
  const uint64_t* keys_ = nullptr;
  const char* values_ = nullptr;
};

}  // namespace dips

#endif  // DIPS_TOOLS_BUNDLE_EMBEDDING_FILE_H_
