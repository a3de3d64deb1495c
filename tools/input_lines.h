// Reads a converter's input file line by line (plain or gzip, through
// worker/data/line_source.h) and tolerates what real dumps do: a truncated
// gzip stream ends the input with a warning, keeping every complete line;
// lines longer than the limit are counted and skipped.
#ifndef DIPS_TOOLS_INPUT_LINES_H_
#define DIPS_TOOLS_INPUT_LINES_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace dips {

struct InputLineStats {
  int64_t lines = 0;     // complete lines handed to the callback
  int64_t too_long = 0;  // lines over max_line_bytes, skipped
  bool truncated = false;  // the stream ended in a Corruption (e.g. cut gzip)
};

// Calls visit(line, line_number) for each complete line (line numbers are
// 1-based). Open and read errors other than corruption are returned; a
// Corruption status is logged as a warning, sets stats->truncated and ends
// the input normally. A non-OK status from `visit` stops and is returned.
Status ForEachInputLine(const std::string& path, size_t max_line_bytes,
                        const std::function<Status(std::string_view, int64_t)>& visit,
                        InputLineStats* stats);

// ForEachInputLine as the converters use it: overlong lines are added to
// *skipped and a truncated stream sets *truncated. Both accumulate, so each
// input file can add to its own DatasetSummary fields.
Status ForEachInputRecord(const std::string& path, size_t max_line_bytes,
                          const std::function<Status(std::string_view, int64_t)>& visit,
                          int64_t* skipped, bool* truncated);

// Counts one malformed input record (line `line_number` of `path`) in
// *skipped. While *skipped is at most 10 it is also logged as "malformed
// <what> skipped (<why>)"; the rest are only counted.
void NoteMalformedInput(const std::string& path, int64_t line_number, std::string_view what,
                        std::string_view why, int64_t* skipped);

}  // namespace dips

#endif  // DIPS_TOOLS_INPUT_LINES_H_
