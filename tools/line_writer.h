// LineWriter: a buffered, append-only text file writer for the converters and
// the generator. Output is gzip-compressed when the path ends in ".gz"
// (zlib, default level), plain otherwise. Bytes are buffered in memory and
// handed to the OS in large blocks, so writing tens of millions of short
// lines costs about one memcpy per line. Not thread-safe.
#ifndef DIPS_TOOLS_LINE_WRITER_H_
#define DIPS_TOOLS_LINE_WRITER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace dips {

struct LineWriterOptions {
  // Bytes collected before one write(2)/gzwrite call. Default 1 MiB.
  size_t buffer_bytes = 1 << 20;
  // zlib level for ".gz" output, 1 (fast) .. 9 (small). Default 1: the
  // generated logs are large and the reader, not the ratio, is the bottleneck.
  int gzip_level = 1;
};

class LineWriter {
 public:
  // Creates (truncates) `path`. Fails with IOError if it cannot be opened.
  static StatusOr<std::unique_ptr<LineWriter>> Open(const std::string& path,
                                                    const LineWriterOptions& options);
  virtual ~LineWriter() = default;

  // Appends raw bytes (the caller adds '\n' where lines end). An I/O error is
  // remembered and returned by every later call and by Close().
  virtual Status Append(std::string_view bytes) = 0;

  // Flushes and closes the file; further Appends fail. Destroying an open
  // writer closes it too but drops the status, so callers should Close().
  virtual Status Close() = 0;

  // Uncompressed bytes accepted so far.
  virtual uint64_t bytes_written() const = 0;
  virtual const std::string& path() const = 0;
};

}  // namespace dips

#endif  // DIPS_TOOLS_LINE_WRITER_H_
