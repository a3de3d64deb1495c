#include "ps/checkpoint/row_file.h"

#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <unistd.h>
#include <memory>
#include <vector>

namespace dips {
namespace {

constexpr char kRowMagic[8] = {'D', 'I', 'P', 'S', 'R', 'O', 'W', 'S'};
constexpr char kFooterMagic[8] = {'D', 'I', 'P', 'S', 'E', 'N', 'D', '1'};
constexpr uint32_t kRowFileVersion = 1;
constexpr size_t kHeaderBytes = 48;
constexpr size_t kFooterBytes = 16;
constexpr size_t kRowsPerImport = 4096;

// Buffered writer that keeps a running CRC-32 and remembers the first error
// (ForEachRow's callback cannot stop the iteration).
class CrcWriter {
 public:
  explicit CrcWriter(FILE* f) : f_(f), crc_(crc32(0L, Z_NULL, 0)) {}
  void Write(const void* data, size_t n) {
    if (failed_) return;
    if (std::fwrite(data, 1, n, f_) != n) {
      failed_ = true;
      error_ = errno;
      return;
    }
    crc_ = crc32(crc_, static_cast<const Bytef*>(data), static_cast<uInt>(n));
    bytes_ += n;
  }
  bool failed() const { return failed_; }
  int error() const { return error_; }
  FileDigest digest() const { return FileDigest{bytes_, static_cast<uint32_t>(crc_)}; }

 private:
  FILE* f_;
  uLong crc_;
  uint64_t bytes_ = 0;
  bool failed_ = false;
  int error_ = 0;
};

size_t RecordBytes(size_t dim, size_t state_floats) {
  return 32 + 4 * (dim + state_floats);
}

}  // namespace

StatusOr<RowFileInfo> WriteRowFile(const SparseTable& table, const RowFileOptions& options,
                                   const std::string& path) {
  const size_t dim = table.dim();
  const size_t state_floats = dim * StateFloatsPerWeight(options.optimizer);
  const std::string tmp = path + ".tmp";
  UniqueFile f(std::fopen(tmp.c_str(), "wb"));
  if (f == nullptr) return IOError("cannot create " + tmp + ": " + std::strerror(errno));
  std::vector<char> buffer(4 << 20);
  std::setvbuf(f.get(), buffer.data(), _IOFBF, buffer.size());
  CrcWriter out(f.get());

  char header[kHeaderBytes] = {};
  std::memcpy(header, kRowMagic, 8);
  PutField<uint32_t>(header, 8, kRowFileVersion);
  PutField<uint32_t>(header, 12, static_cast<uint32_t>(dim));
  PutField<uint32_t>(header, 16, static_cast<uint32_t>(state_floats));
  PutField<uint32_t>(header, 20, static_cast<uint32_t>(options.optimizer));
  PutField<int64_t>(header, 24, options.since_step);
  PutField<uint32_t>(header, 32, options.shard_index);
  PutField<uint32_t>(header, 36, options.num_shards);
  out.Write(header, kHeaderBytes);

  uint64_t rows = 0;
  std::vector<char> record(RecordBytes(dim, state_floats));
  const bool all_rows = options.since_step == kAllRows;
  table.ForEachRow([&](const RowView& row) {
    if (!all_rows && (row.update_count == 0 || row.last_update_step <= options.since_step)) {
      return;
    }
    PutField<uint64_t>(record.data(), 0, row.key);
    PutField<uint64_t>(record.data(), 8, row.count);
    PutField<int64_t>(record.data(), 16, row.last_update_step);
    PutField<int64_t>(record.data(), 24, row.update_count);
    std::memcpy(record.data() + 32, row.weights, 4 * dim);
    if (state_floats > 0) std::memcpy(record.data() + 32 + 4 * dim, row.state, 4 * state_floats);
    out.Write(record.data(), record.size());
    ++rows;
  });
  char footer[kFooterBytes];
  std::memcpy(footer, kFooterMagic, 8);
  PutField<uint64_t>(footer, 8, rows);
  out.Write(footer, kFooterBytes);
  if (out.failed()) {
    return IOError("cannot write " + tmp + ": " + std::strerror(out.error()));
  }
  if (std::fflush(f.get()) != 0 || ::fsync(fileno(f.get())) != 0) {
    return IOError("cannot flush " + tmp + ": " + std::strerror(errno));
  }
  f.reset();
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return IOError("cannot rename " + tmp + ": " + std::strerror(errno));
  }
  RowFileInfo info;
  info.digest = out.digest();
  info.rows = rows;
  return info;
}

StatusOr<RowFileInfo> LoadRowFile(const std::string& path, const FileDigest* expected,
                                  SparseOptimizerKind optimizer,
                                  const std::function<bool(uint64_t)>& keep,
                                  SparseTable* table) {
  if (expected != nullptr) RETURN_IF_ERROR(VerifyFileDigest(path, *expected));
  UniqueFile f(std::fopen(path.c_str(), "rb"));
  if (f == nullptr) return IOError("cannot open " + path + ": " + std::strerror(errno));
  const size_t dim = table->dim();
  const size_t state_floats = dim * StateFloatsPerWeight(optimizer);
  char header[kHeaderBytes];
  if (std::fread(header, 1, kHeaderBytes, f.get()) != kHeaderBytes ||
      std::memcmp(header, kRowMagic, 8) != 0) {
    return CorruptionError(path + " is not a DIPS row file (bad magic or too short)");
  }
  if (GetField<uint32_t>(header, 8) != kRowFileVersion) {
    return CorruptionError(path + ": unsupported row file version " +
                           std::to_string(GetField<uint32_t>(header, 8)));
  }
  if (GetField<uint32_t>(header, 12) != dim || GetField<uint32_t>(header, 16) != state_floats ||
      GetField<uint32_t>(header, 20) != static_cast<uint32_t>(optimizer)) {
    return InvalidArgumentError(
        path + " holds rows of dim " + std::to_string(GetField<uint32_t>(header, 12)) + " with " +
        std::to_string(GetField<uint32_t>(header, 16)) + " state floats (optimiser " +
        std::to_string(GetField<uint32_t>(header, 20)) + "); the table has dim " +
        std::to_string(dim) + " and optimiser " + SparseOptimizerName(optimizer));
  }
  uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(header), kHeaderBytes);
  const size_t record_bytes = RecordBytes(dim, state_floats);
  std::vector<char> chunk(record_bytes * kRowsPerImport);
  std::vector<RowView> views;
  views.reserve(kRowsPerImport);
  RowFileInfo info;
  uint64_t records = 0;
  // Records and the footer share one stream: read whole records until the
  // bytes left are exactly one footer.
  std::vector<char> pending;  // bytes read but not yet consumed
  bool eof = false;
  while (true) {
    if (!eof && pending.size() < chunk.size() + kFooterBytes) {
      const size_t old = pending.size();
      pending.resize(old + chunk.size());
      const size_t got = std::fread(pending.data() + old, 1, chunk.size(), f.get());
      pending.resize(old + got);
      if (got < chunk.size()) {
        if (std::ferror(f.get())) return IOError("cannot read " + path);
        eof = true;
      }
    }
    size_t usable = pending.size() >= kFooterBytes ? pending.size() - kFooterBytes : 0;
    if (!eof) usable = std::min(usable, chunk.size());
    const size_t n = usable / record_bytes;
    if (n == 0 && eof) break;
    views.clear();
    for (size_t i = 0; i < n; ++i) {
      const char* r = pending.data() + i * record_bytes;
      const uint64_t key = GetField<uint64_t>(r, 0);
      if (keep && !keep(key)) continue;
      // Records are multiples of 4 bytes in a malloc'ed buffer: the float
      // pointers are aligned.
      views.push_back(RowView{key, reinterpret_cast<const float*>(r + 32),
                              reinterpret_cast<const float*>(r + 32 + 4 * dim),
                              GetField<uint64_t>(r, 8), GetField<int64_t>(r, 16), GetField<int64_t>(r, 24)});
    }
    crc = crc32(crc, reinterpret_cast<const Bytef*>(pending.data()),
                static_cast<uInt>(n * record_bytes));
    if (!views.empty()) {
      Status imported = table->ImportRows(views.data(), views.size());
      if (!imported.ok()) {
        return Status(imported.code(), path + ": " + imported.message());
      }
    }
    info.rows += views.size();
    records += n;
    pending.erase(pending.begin(), pending.begin() + static_cast<long>(n * record_bytes));
  }
  if (pending.size() != kFooterBytes || std::memcmp(pending.data(), kFooterMagic, 8) != 0) {
    return CorruptionError(path + " is truncated or has a damaged footer (" +
                           std::to_string(records) + " whole records read)");
  }
  if (GetField<uint64_t>(pending.data(), 8) != records) {
    return CorruptionError(path + ": footer counts " +
                           std::to_string(GetField<uint64_t>(pending.data(), 8)) + " rows, file has " +
                           std::to_string(records));
  }
  crc = crc32(crc, reinterpret_cast<const Bytef*>(pending.data()), kFooterBytes);
  info.digest.bytes = kHeaderBytes + records * record_bytes + kFooterBytes;
  info.digest.crc32 = static_cast<uint32_t>(crc);
  if (expected != nullptr && info.digest.crc32 != expected->crc32) {
    // The file changed between the check above and this read.
    return CorruptionError(path + " changed while it was being loaded");
  }
  return info;
}

}  // namespace dips
