#include "tools/line_writer.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace dips {
namespace {

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Shared buffering; subclasses only know how to push one block to the file.
class BufferedWriter : public LineWriter {
 public:
  BufferedWriter(std::string path, size_t buffer_bytes) : path_(std::move(path)) {
    buffer_.reserve(buffer_bytes > 0 ? buffer_bytes : 1);
  }

  Status Append(std::string_view bytes) final {
    if (!status_.ok()) return status_;
    if (closed_) return FailedPreconditionError(path_ + ": append after Close()");
    bytes_written_ += bytes.size();
    if (buffer_.size() + bytes.size() > buffer_.capacity()) {
      status_ = Flush();
      if (!status_.ok()) return status_;
      // A block larger than the buffer goes straight to the file.
      if (bytes.size() >= buffer_.capacity()) {
        status_ = WriteBlock(bytes.data(), bytes.size());
        return status_;
      }
    }
    buffer_.append(bytes.data(), bytes.size());
    return Status::OK();
  }

  Status Close() final {
    if (closed_) return status_;
    closed_ = true;
    if (status_.ok()) status_ = Flush();
    Status close_status = CloseFile();
    if (status_.ok()) status_ = close_status;
    return status_;
  }

  uint64_t bytes_written() const final { return bytes_written_; }
  const std::string& path() const final { return path_; }

 protected:
  virtual Status WriteBlock(const char* data, size_t size) = 0;
  virtual Status CloseFile() = 0;
  // Subclass destructors call this: Close() dispatches to their virtuals.
  void CloseQuietly() {
    Status s = Close();
    if (!s.ok()) LOG(ERROR) << "closing unclosed writer: " << s.ToString();
  }

  std::string path_;

 private:
  Status Flush() {
    if (buffer_.empty()) return Status::OK();
    Status s = WriteBlock(buffer_.data(), buffer_.size());
    buffer_.clear();
    return s;
  }

  std::string buffer_;
  uint64_t bytes_written_ = 0;
  bool closed_ = false;
  Status status_;
};

class PlainWriter final : public BufferedWriter {
 public:
  PlainWriter(std::string path, int fd, size_t buffer_bytes)
      : BufferedWriter(std::move(path), buffer_bytes), fd_(fd) {}
  ~PlainWriter() override { CloseQuietly(); }

 private:
  Status WriteBlock(const char* data, size_t size) override {
    while (size > 0) {
      ssize_t n = ::write(fd_, data, size);
      if (n < 0) {
        if (errno == EINTR) continue;
        return IOError(path_ + ": write: " + std::strerror(errno));
      }
      data += n;
      size -= static_cast<size_t>(n);
    }
    return Status::OK();
  }
  Status CloseFile() override {
    if (fd_ < 0) return Status::OK();
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) return IOError(path_ + ": close: " + std::strerror(errno));
    return Status::OK();
  }

  int fd_;
};

class GzipWriter final : public BufferedWriter {
 public:
  GzipWriter(std::string path, gzFile file, size_t buffer_bytes)
      : BufferedWriter(std::move(path), buffer_bytes), file_(file) {}
  ~GzipWriter() override { CloseQuietly(); }

 private:
  Status WriteBlock(const char* data, size_t size) override {
    while (size > 0) {
      // gzwrite takes an unsigned int length; feed large blocks in pieces.
      unsigned chunk = size > (1u << 30) ? (1u << 30) : static_cast<unsigned>(size);
      int n = gzwrite(file_, data, chunk);
      if (n <= 0) {
        int errnum = 0;
        const char* msg = gzerror(file_, &errnum);
        return IOError(path_ + ": gzwrite: " + (msg != nullptr ? msg : "unknown error"));
      }
      data += n;
      size -= static_cast<size_t>(n);
    }
    return Status::OK();
  }
  Status CloseFile() override {
    if (file_ == nullptr) return Status::OK();
    int rc = gzclose(file_);
    file_ = nullptr;
    if (rc != Z_OK) return IOError(path_ + ": gzclose failed (code " + std::to_string(rc) + ")");
    return Status::OK();
  }

  gzFile file_;
};

}  // namespace

StatusOr<std::unique_ptr<LineWriter>> LineWriter::Open(const std::string& path,
                                                       const LineWriterOptions& options) {
  if (options.gzip_level < 1 || options.gzip_level > 9) {
    return InvalidArgumentError("gzip_level must be in 1..9, got " +
                                std::to_string(options.gzip_level));
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return IOError(path + ": open for writing: " + std::strerror(errno));
  if (!EndsWith(path, ".gz")) {
    return std::unique_ptr<LineWriter>(new PlainWriter(path, fd, options.buffer_bytes));
  }
  std::string mode = "wb" + std::to_string(options.gzip_level);
  gzFile file = gzdopen(fd, mode.c_str());
  if (file == nullptr) {
    ::close(fd);
    return IOError(path + ": gzdopen failed");
  }
  return std::unique_ptr<LineWriter>(new GzipWriter(path, file, options.buffer_bytes));
}

}  // namespace dips
