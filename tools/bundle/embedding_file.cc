#include "tools/bundle/embedding_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "tools/bundle/half.h"

namespace dips {
namespace {

constexpr char kMagic[8] = {'D', 'I', 'P', 'S', 'E', 'M', 'B', '1'};
constexpr char kFooterMagic[8] = {'D', 'I', 'P', 'S', 'E', 'N', 'D', '1'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 64;
constexpr size_t kFooterBytes = 16;

size_t ElementBytes(bundle::RowPrecision precision) {
  return precision == bundle::ROW_PRECISION_FP16 ? 2 : 4;
}

}  // namespace

StatusOr<FileDigest> WriteEmbeddingFile(const std::string& path, int dim,
                                        bundle::RowPrecision precision, const uint64_t* keys,
                                        const float* values, size_t n) {
  if (dim < 1) return InvalidArgumentError("embedding file dim must be >= 1");
  if (precision != bundle::ROW_PRECISION_FP32 && precision != bundle::ROW_PRECISION_FP16) {
    return InvalidArgumentError("unknown row precision " + std::to_string(precision));
  }
  for (size_t i = 1; i < n; ++i) {
    if (keys[i - 1] >= keys[i]) {
      return InvalidArgumentError("embedding file keys must be strictly ascending");
    }
  }
  const std::string tmp = path + ".tmp";
  UniqueFile f(std::fopen(tmp.c_str(), "wb"));
  if (f == nullptr) return IOError("cannot create " + tmp + ": " + std::strerror(errno));
  char header[kHeaderBytes] = {};
  std::memcpy(header, kMagic, 8);
  PutField<uint32_t>(header, 8, kVersion);
  PutField<uint32_t>(header, 12, static_cast<uint32_t>(dim));
  PutField<uint32_t>(header, 16, static_cast<uint32_t>(precision));
  PutField<uint64_t>(header, 24, n);
  PutField<uint64_t>(header, 32, kHeaderBytes);
  PutField<uint64_t>(header, 40, kHeaderBytes + 8 * n);
  bool ok = std::fwrite(header, 1, kHeaderBytes, f.get()) == kHeaderBytes;
  ok = ok && std::fwrite(keys, 8, n, f.get()) == n;
  const size_t elements = n * static_cast<size_t>(dim);
  if (precision == bundle::ROW_PRECISION_FP32) {
    ok = ok && std::fwrite(values, 4, elements, f.get()) == elements;
  } else {
    // Converted a block at a time: memory stays small for any n.
    std::vector<uint16_t> halves(1 << 16);
    for (size_t begin = 0; ok && begin < elements; begin += halves.size()) {
      const size_t count = std::min(halves.size(), elements - begin);
      for (size_t i = 0; i < count; ++i) halves[i] = FloatToHalf(values[begin + i]);
      ok = std::fwrite(halves.data(), 2, count, f.get()) == count;
    }
  }
  char footer[kFooterBytes];
  std::memcpy(footer, kFooterMagic, 8);
  PutField<uint64_t>(footer, 8, n);
  ok = ok && std::fwrite(footer, 1, kFooterBytes, f.get()) == kFooterBytes;
  if (!ok || std::fflush(f.get()) != 0 || ::fsync(fileno(f.get())) != 0) {
    return IOError("cannot write " + tmp + ": " + std::strerror(errno));
  }
  f.reset();
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return IOError("cannot rename " + tmp + ": " + std::strerror(errno));
  }
  return DigestFile(path);
}

StatusOr<std::unique_ptr<EmbeddingFile>> EmbeddingFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const std::string message = "cannot open " + path + ": " + std::strerror(errno);
    return errno == ENOENT ? NotFoundError(message) : IOError(message);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return IOError("cannot stat " + path + ": " + std::strerror(errno));
  }
  const size_t bytes = static_cast<size_t>(st.st_size);
  if (bytes < kHeaderBytes + kFooterBytes) {
    ::close(fd);
    return CorruptionError(path + " is too short for an embedding file");
  }
  void* map = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);  // the mapping keeps the file
  if (map == MAP_FAILED) return IOError("cannot map " + path + ": " + std::strerror(errno));
  std::unique_ptr<EmbeddingFile> file(new EmbeddingFile());
  file->map_ = map;
  file->map_bytes_ = bytes;

  const char* base = static_cast<const char*>(map);
  if (std::memcmp(base, kMagic, 8) != 0) {
    return CorruptionError(path + " is not a DIPS embedding file (bad magic)");
  }
  if (GetField<uint32_t>(base, 8) != kVersion) {
    return CorruptionError(path + ": unsupported embedding file version " +
                           std::to_string(GetField<uint32_t>(base, 8)));
  }
  const uint32_t dim = GetField<uint32_t>(base, 12);
  const uint32_t precision = GetField<uint32_t>(base, 16);
  const uint64_t n = GetField<uint64_t>(base, 24);
  if (dim < 1 || dim > (1u << 16) ||
      (precision != bundle::ROW_PRECISION_FP32 && precision != bundle::ROW_PRECISION_FP16)) {
    return CorruptionError(path + ": bad header (dim " + std::to_string(dim) + ", precision " +
                           std::to_string(precision) + ")");
  }
  file->dim_ = static_cast<int>(dim);
  file->precision_ = static_cast<bundle::RowPrecision>(precision);
  const size_t row_bytes = dim * ElementBytes(file->precision_);
  // n is bounded by the file size before anything is multiplied by it.
  if (n > bytes / (8 + row_bytes) ||
      bytes != kHeaderBytes + n * (8 + row_bytes) + kFooterBytes ||
      GetField<uint64_t>(base, 32) != kHeaderBytes || GetField<uint64_t>(base, 40) != kHeaderBytes + 8 * n) {
    return CorruptionError(path + " is truncated or its header is damaged: " +
                           std::to_string(bytes) + " bytes for " + std::to_string(n) +
                           " rows of dim " + std::to_string(dim));
  }
  const char* footer = base + bytes - kFooterBytes;
  if (std::memcmp(footer, kFooterMagic, 8) != 0 || GetField<uint64_t>(footer, 8) != n) {
    return CorruptionError(path + " has a damaged footer");
  }
  file->rows_ = n;
  // The key array starts at offset 64 of a page-aligned mapping: aligned.
  file->keys_ = reinterpret_cast<const uint64_t*>(base + kHeaderBytes);
  file->values_ = base + kHeaderBytes + 8 * n;
  for (uint64_t i = 1; i < n; ++i) {
    if (file->keys_[i - 1] >= file->keys_[i]) {
      return CorruptionError(path + ": keys out of order at row " + std::to_string(i));
    }
  }
  return file;
}

EmbeddingFile::~EmbeddingFile() {
  if (map_ != nullptr) ::munmap(map_, map_bytes_);
}

bool EmbeddingFile::Lookup(uint64_t key, float* out) const {
  const uint64_t* end = keys_ + rows_;
  const uint64_t* it = std::lower_bound(keys_, end, key);
  if (it == end || *it != key) return false;
  const size_t row = static_cast<size_t>(it - keys_);
  const size_t dim = static_cast<size_t>(dim_);
  if (precision_ == bundle::ROW_PRECISION_FP32) {
    std::memcpy(out, values_ + row * dim * 4, dim * 4);
  } else {
    const char* halves = values_ + row * dim * 2;
    for (size_t i = 0; i < dim; ++i) out[i] = HalfToFloat(GetField<uint16_t>(halves, 2 * i));
  }
  return true;
}

}  // namespace dips
