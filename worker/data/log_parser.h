// LogParser: turns one behaviour-log line into a Sample, following the
// DIEN and DIPS-v1 formats and validation rules in docs/log_format.md. Also
// parses the DIPS-v1 header that defines a file's LogSchema.
//
// Not thread-safe (it keeps scratch space); use one parser per reader.
#ifndef DIPS_WORKER_DATA_LOG_PARSER_H_
#define DIPS_WORKER_DATA_LOG_PARSER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "worker/data/sample.h"

namespace dips {

// Why a line was rejected. Stable order: stats arrays are indexed by it.
enum class LineError : int {
  kOk = 0,
  kTooLong,            // longer than max_line_bytes (reported by the reader)
  kNulByte,            // contains a 0x00 byte
  kInvalidUtf8,        // not well-formed UTF-8
  kCarriageReturn,     // contains '\r' (usually a CRLF line ending)
  kColumnCount,        // not the number of columns the schema has
  kBadLabel,           // label is not 0 or 1 (0.0 / 1.0 also accepted)
  kEmptyId,            // empty id in a fixed column or inside a history
  kHistoryMismatch,    // item/category/shop histories of different lengths
};
inline constexpr int kNumLineErrors = static_cast<int>(LineError::kHistoryMismatch) + 1;

// Short snake_case name of a reason, e.g. "column_count".
const char* LineErrorName(LineError error);

// True if `line` looks like a DIPS header (starts with "#dips-"). Only the
// first line of a file may be a header.
bool IsHeaderLine(std::string_view line);

// Parses a DIPS header line into the schema it declares. InvalidArgument
// (without the file name; the caller adds it) for an unsupported version or
// a header that breaks the rules in docs/log_format.md.
StatusOr<LogSchema> ParseHeader(std::string_view line);

class LogParser {
 public:
  // max_history >= 1: histories are cut to their most recent max_history
  // behaviours (the end of the column, since histories are oldest first).
  LogParser(const LogSchema& schema, int max_history);

  // Parses a data line (no trailing '\n') into *sample, reusing its vectors.
  // On failure returns the reason, writes a human-readable explanation to
  // *detail, and leaves *sample in an unspecified state.
  LineError Parse(std::string_view line, Sample* sample, std::string* detail);

  const LogSchema& schema() const { return schema_; }
  int num_columns() const { return num_columns_; }

 private:
  // Hashes the history column `column`, which holds `count` elements joined
  // by 0x02, into *out, keeping the last max_history_; kEmptyId if any
  // element (kept or not) is empty.
  LineError ParseHistory(std::string_view column, size_t count, uint64_t seed,
                         std::vector<uint64_t>* out, std::string* detail) const;

  LogSchema schema_;
  int max_history_;
  int num_columns_;
  uint64_t user_seed_, item_seed_, category_seed_, shop_seed_;
  std::vector<uint64_t> extra_seeds_;
  std::vector<std::string_view> columns_;  // scratch, reused per line
};

}  // namespace dips

#endif  // DIPS_WORKER_DATA_LOG_PARSER_H_
