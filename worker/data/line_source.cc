#include "worker/data/line_source.h"

#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

namespace dips {
namespace {

// Size of the buffer the file is read through, and of the inflate output
// buffer. Memory per source is two such buffers plus the caller's line.
constexpr size_t kChunkBytes = 256 << 10;

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<FILE, FileCloser>;

Status ErrnoStatus(const std::string& what, const std::string& path, int err) {
  std::string msg = what + " " + path + ": " + std::strerror(err);
  if (err == ENOENT) return NotFoundError(std::move(msg));
  return IOError(std::move(msg));
}

// A stream of bytes: the file itself, or what inflating it yields.
class ByteStream {
 public:
  virtual ~ByteStream() = default;
  // Points *data at the next bytes; *size == 0 means the end of the input.
  // The bytes stay valid until the next call.
  virtual Status Read(const char** data, size_t* size) = 0;
  // Bytes of the file consumed to produce everything Read returned so far.
  virtual uint64_t consumed() const = 0;
};

class PlainStream : public ByteStream {
 public:
  PlainStream(FilePtr file, std::string path)
      : file_(std::move(file)), path_(std::move(path)), buffer_(kChunkBytes) {}

  Status Read(const char** data, size_t* size) override {
    *size = std::fread(buffer_.data(), 1, buffer_.size(), file_.get());
    *data = buffer_.data();
    consumed_ += *size;
    if (*size == 0 && std::ferror(file_.get())) {
      return ErrnoStatus("cannot read", path_, errno);
    }
    return Status::OK();
  }

  uint64_t consumed() const override { return consumed_; }

 private:
  FilePtr file_;
  std::string path_;
  std::vector<char> buffer_;
  uint64_t consumed_ = 0;
};

// Inflates one or more concatenated gzip members (what `cat a.gz b.gz`
// produces and `gzip -d` accepts). The raw inflate API rather than gzFile so
// that a stream that ends before a member's trailer is an unambiguous error:
// gzread reports that case only through a later gzerror() that treats it as
// a soft Z_BUF_ERROR.
class GzipStream : public ByteStream {
 public:
  GzipStream(FilePtr file, std::string path)
      : file_(std::move(file)), path_(std::move(path)),
        in_(kChunkBytes), out_(kChunkBytes) {
    std::memset(&z_, 0, sizeof(z_));
  }
  ~GzipStream() override {
    if (initialised_) inflateEnd(&z_);
  }

  Status Init() {
    // 16 + MAX_WBITS: expect a gzip wrapper and check its CRC-32 and length.
    if (inflateInit2(&z_, 16 + MAX_WBITS) != Z_OK) {
      return InternalError("inflateInit2 failed for " + path_);
    }
    initialised_ = true;
    return Status::OK();
  }

  Status Read(const char** data, size_t* size) override {
    *data = out_.data();
    *size = 0;
    while (*size == 0) {
      if (z_.avail_in == 0 && !input_eof_) RETURN_IF_ERROR(Refill());
      if (z_.avail_in == 0 && input_eof_) {
        if (in_member_) {
          return CorruptionError("truncated gzip stream in " + path_ +
                                 " (input ended inside a member)");
        }
        return Status::OK();  // clean end after a complete member
      }
      if (!in_member_) {
        // Bytes after a complete member must start another member.
        in_member_ = true;
        if (inflateReset(&z_) != Z_OK) return InternalError("inflateReset failed");
      }
      z_.next_out = reinterpret_cast<Bytef*>(out_.data());
      z_.avail_out = static_cast<uInt>(out_.size());
      const int ret = inflate(&z_, Z_NO_FLUSH);
      *size = out_.size() - z_.avail_out;
      if (ret == Z_STREAM_END) {
        in_member_ = false;
      } else if (ret != Z_OK && ret != Z_BUF_ERROR) {
        return CorruptionError("corrupt gzip stream in " + path_ + ": " +
                               (z_.msg != nullptr ? z_.msg : "inflate error"));
      }
    }
    return Status::OK();
  }

  // Counted here rather than read from z_.total_in, which inflateReset
  // clears at every member of a concatenated file.
  uint64_t consumed() const override { return refilled_ - z_.avail_in; }

 private:
  Status Refill() {
    const size_t n = std::fread(in_.data(), 1, in_.size(), file_.get());
    if (n == 0) {
      if (std::ferror(file_.get())) return ErrnoStatus("cannot read", path_, errno);
      input_eof_ = true;
    }
    z_.next_in = reinterpret_cast<Bytef*>(in_.data());
    z_.avail_in = static_cast<uInt>(n);
    refilled_ += n;
    return Status::OK();
  }

  FilePtr file_;
  std::string path_;
  std::vector<char> in_;
  std::vector<char> out_;
  z_stream z_;
  bool initialised_ = false;
  bool input_eof_ = false;
  bool in_member_ = true;  // the file starts with a member (magic checked)
  uint64_t refilled_ = 0;   // bytes read from the file into in_
};

class LineSourceImpl : public LineSource {
 public:
  LineSourceImpl(std::unique_ptr<ByteStream> stream, std::string path, uint64_t file_bytes,
                 const LineSourceOptions& options)
      : stream_(std::move(stream)), path_(std::move(path)), file_bytes_(file_bytes),
        options_(options) {}

  StatusOr<bool> Next(std::string* line, bool* too_long) override {
    line->clear();
    *too_long = false;
    bool have_bytes = false;  // anything of this line seen, even if cut
    for (;;) {
      if (pos_ == size_) {
        if (eof_) break;
        span_begin_ = stream_->consumed();
        Status s = stream_->Read(&data_, &size_);
        span_end_ = stream_->consumed();
        pos_ = 0;
        if (!s.ok()) {
          // The partial line at the point of failure is not delivered.
          eof_ = true;
          size_ = 0;
          line->clear();
          return s;
        }
        if (size_ == 0) {
          eof_ = true;
          finished_ = true;
          break;
        }
      }
      const char* start = data_ + pos_;
      const size_t avail = size_ - pos_;
      const void* nl = std::memchr(start, '\n', avail);
      const size_t len = nl != nullptr ? static_cast<const char*>(nl) - start : avail;
      Append(start, len, line, too_long);
      have_bytes = true;
      pos_ += len;
      if (nl != nullptr) {
        ++pos_;  // consume '\n'
        ++line_number_;
        return true;
      }
    }
    if (have_bytes && (!line->empty() || *too_long)) {
      ++line_number_;  // a last line without '\n'
      return true;
    }
    return false;
  }

  double Progress() const override {
    if (finished_) return 1.0;
    if (file_bytes_ == 0) return 0.0;
    // The current buffer came from file bytes [span_begin_, span_end_);
    // assume they map evenly onto it. Exact for a plain file. The next
    // buffer starts where this one's span ended, so the value never falls.
    double at = static_cast<double>(span_begin_);
    if (size_ > 0) {
      at += static_cast<double>(span_end_ - span_begin_) * static_cast<double>(pos_) /
            static_cast<double>(size_);
    }
    return std::min(1.0, at / static_cast<double>(file_bytes_));
  }
  uint64_t file_bytes() const override { return file_bytes_; }

  int64_t line_number() const override { return line_number_; }
  const std::string& path() const override { return path_; }

 private:
  void Append(const char* p, size_t n, std::string* line, bool* too_long) const {
    const size_t room = options_.max_line_bytes - std::min(line->size(), options_.max_line_bytes);
    if (n > room) {
      *too_long = true;
      n = room;
    }
    line->append(p, n);
  }

  std::unique_ptr<ByteStream> stream_;
  std::string path_;
  const uint64_t file_bytes_;
  LineSourceOptions options_;
  const char* data_ = nullptr;
  size_t size_ = 0;
  size_t pos_ = 0;
  uint64_t span_begin_ = 0;  // file bytes consumed before the current buffer
  uint64_t span_end_ = 0;    // ... and after it
  bool eof_ = false;
  bool finished_ = false;    // the input ended cleanly
  int64_t line_number_ = 0;
};

}  // namespace

StatusOr<std::unique_ptr<LineSource>> LineSource::Open(const std::string& path,
                                                       const LineSourceOptions& options) {
  if (options.max_line_bytes == 0) {
    return InvalidArgumentError("max_line_bytes must be positive");
  }
  FilePtr file(std::fopen(path.c_str(), "rb"));
  if (file == nullptr) return ErrnoStatus("cannot open", path, errno);
  struct stat st;
  if (fstat(fileno(file.get()), &st) != 0) return ErrnoStatus("cannot stat", path, errno);
  const uint64_t file_bytes = st.st_size > 0 ? static_cast<uint64_t>(st.st_size) : 0;

  unsigned char magic[2] = {0, 0};
  const size_t got = std::fread(magic, 1, 2, file.get());
  if (got < 2 && std::ferror(file.get())) return ErrnoStatus("cannot read", path, errno);
  if (std::fseek(file.get(), 0, SEEK_SET) != 0) return ErrnoStatus("cannot seek", path, errno);

  std::unique_ptr<ByteStream> stream;
  if (got == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
    auto gz = std::make_unique<GzipStream>(std::move(file), path);
    RETURN_IF_ERROR(gz->Init());
    stream = std::move(gz);
  } else {
    stream = std::make_unique<PlainStream>(std::move(file), path);
  }
  return std::unique_ptr<LineSource>(
      std::make_unique<LineSourceImpl>(std::move(stream), path, file_bytes, options));
}

}  // namespace dips
