#include "tools/input_lines.h"

#include <memory>

#include <glog/logging.h>

#include "worker/data/line_source.h"

namespace dips {
namespace {

constexpr int64_t kMaxLoggedMalformed = 10;  // per counter; the rest are only counted

}  // namespace

Status ForEachInputLine(const std::string& path, size_t max_line_bytes,
                        const std::function<Status(std::string_view, int64_t)>& visit,
                        InputLineStats* stats) {
  LineSourceOptions options;
  options.max_line_bytes = max_line_bytes;
  ASSIGN_OR_RETURN(std::unique_ptr<LineSource> source, LineSource::Open(path, options));
  std::string line;
  while (true) {
    bool too_long = false;
    StatusOr<bool> more = source->Next(&line, &too_long);
    if (!more.ok()) {
      if (more.status().code() != StatusCode::kCorruption) return more.status();
      LOG(WARNING) << path << ": input ends early after line " << source->line_number()
                   << " (" << more.status().message() << "); keeping the "
                   << stats->lines << " complete lines read";
      stats->truncated = true;
      return Status::OK();
    }
    if (!*more) return Status::OK();
    if (too_long) {
      ++stats->too_long;
      LOG_EVERY_N(WARNING, 1000) << path << ":" << source->line_number() << ": line longer than "
                                 << max_line_bytes << " bytes skipped";
      continue;
    }
    ++stats->lines;
    RETURN_IF_ERROR(visit(line, source->line_number()));
  }
}

Status ForEachInputRecord(const std::string& path, size_t max_line_bytes,
                          const std::function<Status(std::string_view, int64_t)>& visit,
                          int64_t* skipped, bool* truncated) {
  InputLineStats stats;
  RETURN_IF_ERROR(ForEachInputLine(path, max_line_bytes, visit, &stats));
  *skipped += stats.too_long;
  *truncated |= stats.truncated;
  return Status::OK();
}

void NoteMalformedInput(const std::string& path, int64_t line_number, std::string_view what,
                        std::string_view why, int64_t* skipped) {
  if (++*skipped <= kMaxLoggedMalformed) {
    LOG(WARNING) << path << ":" << line_number << ": malformed " << what << " skipped (" << why
                 << ")";
  }
}

}  // namespace dips
