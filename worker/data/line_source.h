// LineSource: reads a text file line by line in constant memory, plain or
// gzip-compressed (detected by the gzip magic bytes, not the file name).
// Not thread-safe; one reader per source.
#ifndef DIPS_WORKER_DATA_LINE_SOURCE_H_
#define DIPS_WORKER_DATA_LINE_SOURCE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"

namespace dips {

struct LineSourceOptions {
  // Longer lines are returned cut to this many bytes with *too_long set; the
  // rest of the line is skipped without being held in memory.
  size_t max_line_bytes = 1 << 20;
};

class LineSource {
 public:
  static StatusOr<std::unique_ptr<LineSource>> Open(const std::string& path,
                                                    const LineSourceOptions& options);
  virtual ~LineSource() = default;

  // Reads the next line, without its '\n', into *line. Returns false at the
  // end of the input (a last line without '\n' is still a line). A read
  // error or a truncated/corrupt gzip stream returns a non-OK status naming
  // the file; the lines before it were delivered, and the partial line at
  // the point of truncation is not.
  virtual StatusOr<bool> Next(std::string* line, bool* too_long) = 0;

  // Fraction in [0, 1] of the file consumed by the lines returned so far,
  // in bytes of the file as stored (compressed bytes for gzip, so the
  // fraction is as even as the compression ratio). Within one read buffer
  // the position is interpolated linearly, so it moves with every line.
  // Non-decreasing; exactly 1.0 once Next returned false; 0 for an empty
  // file until then. No system call: cheap enough to ask after every line.
  virtual double Progress() const = 0;
  // Size of the file in bytes as stored, taken when it was opened.
  virtual uint64_t file_bytes() const = 0;

  // 1-based number of the line last returned by Next (0 before the first).
  virtual int64_t line_number() const = 0;
  virtual const std::string& path() const = 0;
};

}  // namespace dips

#endif  // DIPS_WORKER_DATA_LINE_SOURCE_H_
