#include "worker/data/line_source.h"

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
};

class PlainStream : public ByteStream {
 public:
  PlainStream(FilePtr file, std::string path)
      : file_(std::move(file)), path_(std::move(path)), buffer_(kChunkBytes) {}

  Status Read(const char** data, size_t* size) override {
    *size = std::fread(buffer_.data(), 1, buffer_.size(), file_.get());
    *data = buffer_.data();
    if (*size == 0 && std::ferror(file_.get())) {
      return ErrnoStatus("cannot read", path_, errno);
    }
    return Status::OK();
  }

 private:
  FilePtr file_;
  std::string path_;
  std::vector<char> buffer_;
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

 private:
  Status Refill() {
    const size_t n = std::fread(in_.data(), 1, in_.size(), file_.get());
    if (n == 0) {
      if (std::ferror(file_.get())) return ErrnoStatus("cannot read", path_, errno);
      input_eof_ = true;
    }
    z_.next_in = reinterpret_cast<Bytef*>(in_.data());
    z_.avail_in = static_cast<uInt>(n);
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
};

class LineSourceImpl : public LineSource {
 public:
  LineSourceImpl(std::unique_ptr<ByteStream> stream, std::string path,
                 const LineSourceOptions& options)
      : stream_(std::move(stream)), path_(std::move(path)), options_(options) {}

  StatusOr<bool> Next(std::string* line, bool* too_long) override {
    line->clear();
    *too_long = false;
    bool have_bytes = false;  // anything of this line seen, even if cut
    for (;;) {
      if (pos_ == size_) {
        if (eof_) break;
        Status s = stream_->Read(&data_, &size_);
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
  LineSourceOptions options_;
  const char* data_ = nullptr;
  size_t size_ = 0;
  size_t pos_ = 0;
  bool eof_ = false;
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
      std::make_unique<LineSourceImpl>(std::move(stream), path, options));
}

}  // namespace dips
