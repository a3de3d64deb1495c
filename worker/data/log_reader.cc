#include "worker/data/log_reader.h"

#include <algorithm>
#include <sstream>
#include <thread>
#include <utility>

#include "common/malloc_tuning.h"

namespace dips {
namespace {

// Logging of malformed lines: every one of the first kLogFirst, then every
// kLogEvery-th, so a bad file cannot flood the log but stays diagnosable.
constexpr int64_t kLogFirst = 20;
constexpr int64_t kLogEvery = 1000;

// Learns the schema a file declares from its first line: a header defines
// it; a data line means the DIEN format (which equals a v1 header without
// shop and extra fields: the columns are the same).
Status SchemaOfFirstLine(const std::string& path, const std::string& line, bool too_long,
                         LogSchema* schema) {
  *schema = LogSchema();
  if (!IsHeaderLine(line)) return Status::OK();
  if (too_long) return InvalidArgumentError(path + ":1: DIPS header longer than max_line_bytes");
  StatusOr<LogSchema> parsed = ParseHeader(line);
  if (!parsed.ok()) return InvalidArgumentError(path + ":1: " + parsed.status().message());
  *schema = std::move(parsed).value();
  return Status::OK();
}

std::string DescribeSchema(const LogSchema& s) {
  std::string out = s.has_shop ? "with shop" : "without shop";
  out += ", extra fields [";
  for (size_t i = 0; i < s.extra_fields.size(); ++i) {
    out += (i > 0 ? " " : "") + s.extra_fields[i];
  }
  return out + "]";
}

}  // namespace

StatusOr<std::unique_ptr<LogReader>> LogReader::Open(std::vector<std::string> paths,
                                                     const ReaderOptions& options) {
  if (paths.empty()) return InvalidArgumentError("LogReader: no input files");
  if (options.max_history < 1) return InvalidArgumentError("max_history must be >= 1");
  if (!(options.max_bad_ratio >= 0.0 && options.max_bad_ratio <= 1.0)) {
    return InvalidArgumentError("max_bad_ratio must be in [0, 1]");
  }
  if (options.min_lines_for_ratio < 0) {
    return InvalidArgumentError("min_lines_for_ratio must be >= 0");
  }
  if (options.num_parts < 1 || options.part_index < 0 ||
      options.part_index >= options.num_parts) {
    return InvalidArgumentError("need 0 <= part_index < num_parts, got part " +
                                std::to_string(options.part_index) + " of " +
                                std::to_string(options.num_parts));
  }
  LineSourceOptions source_options;
  source_options.max_line_bytes = options.max_line_bytes;

  LogSchema schema;
  int schema_file = -1;  // the first non-empty file defines the schema
  std::string line;
  std::vector<uint64_t> file_bytes;
  for (size_t i = 0; i < paths.size(); ++i) {
    ASSIGN_OR_RETURN(std::unique_ptr<LineSource> source,
                     LineSource::Open(paths[i], source_options));
    file_bytes.push_back(source->file_bytes());
    bool too_long = false;
    ASSIGN_OR_RETURN(bool got_line, source->Next(&line, &too_long));
    if (!got_line) continue;
    LogSchema file_schema;
    RETURN_IF_ERROR(SchemaOfFirstLine(paths[i], line, too_long, &file_schema));
    if (schema_file < 0) {
      schema = file_schema;
      schema_file = static_cast<int>(i);
    } else if (file_schema != schema) {
      return InvalidArgumentError(
          "schema of " + paths[i] + " (" + DescribeSchema(file_schema) + ") differs from " +
          paths[schema_file] + " (" + DescribeSchema(schema) + "); all inputs must match");
    }
  }
  std::unique_ptr<LogReader> reader(
      new LogReader(std::move(paths), std::move(file_bytes), options, std::move(schema)));
  RETURN_IF_ERROR(reader->Rewind());
  return reader;
}

LogReader::LogReader(std::vector<std::string> paths, std::vector<uint64_t> file_bytes,
                     const ReaderOptions& options, LogSchema schema)
    : paths_(std::move(paths)),
      options_(options),
      schema_(std::move(schema)),
      parser_(schema_, options.max_history),
      file_start_(file_bytes.size() + 1, 0) {
  for (size_t i = 0; i < file_bytes.size(); ++i) {
    file_start_[i + 1] = file_start_[i] + file_bytes[i];
  }
}

void LogReader::UpdateProgress() {
  double fraction = 0.0;
  const uint64_t total = file_start_.back();
  if (done_) {
    fraction = 1.0;
  } else if (total > 0 && source_ != nullptr) {
    // Byte counts stay below 2^53, so they convert exactly: at the end of
    // file i this equals the start of file i + 1, and the value never falls
    // across a file boundary.
    const uint64_t size = file_start_[file_index_ + 1] - file_start_[file_index_];
    const double at = static_cast<double>(file_start_[file_index_]) +
                      source_->Progress() * static_cast<double>(size);
    fraction = std::min(1.0, at / static_cast<double>(total));
  }
  progress_.store(fraction, std::memory_order_relaxed);
}

Status LogReader::OpenFile(int index) {
  LineSourceOptions source_options;
  source_options.max_line_bytes = options_.max_line_bytes;
  source_.reset();
  file_index_ = index;
  data_lines_in_file_ = 0;
  pending_first_line_ = false;
  ASSIGN_OR_RETURN(source_, LineSource::Open(paths_[index], source_options));
  bool too_long = false;
  ASSIGN_OR_RETURN(bool got_line, source_->Next(&line_, &too_long));
  if (!got_line) return Status::OK();
  // Checked again here, not only in Open: a file may be replaced between
  // epochs, and a silent schema change would scramble the columns.
  LogSchema file_schema;
  RETURN_IF_ERROR(SchemaOfFirstLine(paths_[index], line_, too_long, &file_schema));
  if (file_schema != schema_) {
    return InvalidArgumentError("schema of " + paths_[index] + " changed since the reader opened");
  }
  if (!IsHeaderLine(line_)) {
    pending_first_line_ = true;  // a data line: NextLine returns it first
    pending_too_long_ = too_long;
  }
  return Status::OK();
}

StatusOr<bool> LogReader::NextLine(bool* too_long) {
  if (pending_first_line_) {
    pending_first_line_ = false;
    *too_long = pending_too_long_;
    return true;
  }
  return source_->Next(&line_, too_long);
}

bool LogReader::OwnsLine() const {
  return (data_lines_in_file_ + file_index_) % options_.num_parts == options_.part_index;
}

StatusOr<bool> LogReader::Next(Sample* sample) {
  StatusOr<bool> got = NextSample(sample);
  UpdateProgress();
  return got;
}

StatusOr<bool> LogReader::NextOwnedLine(bool* too_long) {
  for (;;) {
    ASSIGN_OR_RETURN(bool got, NextLine(too_long));
    if (!got) {
      if (file_index_ + 1 == static_cast<int>(paths_.size())) return false;
      RETURN_IF_ERROR(OpenFile(file_index_ + 1));
      continue;
    }
    const bool mine = OwnsLine();
    ++data_lines_in_file_;
    if (mine) return true;
  }
}

StatusOr<bool> LogReader::NextSample(Sample* sample) {
  if (!error_.ok()) return error_;
  while (!done_) {
    LineError err = LineError::kOk;
    const std::string* detail = &detail_;
    int file_index = file_index_;  // where this line is, for messages
    int64_t line_number = 0;
    if (ahead_used_ < ahead_size_) {
      AheadLine& line = ahead_[ahead_used_++];
      file_index = line.file_index;
      line_number = line.line_number;
      err = line.error;
      detail = &line.detail;
      if (err == LineError::kOk) std::swap(*sample, line.sample);
    } else {
      if (!ahead_error_.ok()) {
        error_ = ahead_error_;
        ahead_error_ = Status::OK();
        return error_;
      }
      bool end = ahead_end_;
      bool too_long = false;
      if (!end) {
        ahead_size_ = ahead_used_ = 0;
        StatusOr<bool> got = NextOwnedLine(&too_long);
        if (!got.ok()) {
          error_ = got.status();
          return error_;
        }
        end = !*got;
      }
      if (end) {
        done_ = true;
        break;
      }
      file_index = file_index_;
      line_number = source_->line_number();
      err = too_long ? LineError::kTooLong : parser_.Parse(line_, sample, &detail_);
      if (too_long) detail_ = TooLongDetail();
    }
    // A line read ahead counts here, as one read now does.
    ++stats_.lines;
    if (err == LineError::kOk) {
      ++stats_.samples;
    } else {
      RecordBadLine(err, *detail, file_index, line_number);
    }
    error_ = CheckRatio(/*at_end=*/false, file_index, line_number);
    if (!error_.ok()) {
      LogSummary();
      return error_;
    }
    if (err == LineError::kOk) return true;
  }
  if (!summary_logged_) {
    summary_logged_ = true;
    LogSummary();
  }
  error_ = CheckRatio(/*at_end=*/true, file_index_, source_ ? source_->line_number() : 0);
  if (!error_.ok()) return error_;
  return false;
}

void LogReader::ReadAhead(size_t max_lines, int threads) {
  CHECK_GE(threads, 1);
  if (ahead_used_ < ahead_size_ || ahead_end_ || !ahead_error_.ok() || !error_.ok() || done_) {
    return;
  }
  ahead_start_ = position();
  ahead_size_ = ahead_used_ = 0;
  if (ahead_.size() < max_lines) ahead_.resize(max_lines);
  while (ahead_size_ < max_lines) {
    bool too_long = false;
    StatusOr<bool> got = NextOwnedLine(&too_long);
    if (!got.ok()) {
      ahead_error_ = got.status();
      break;
    }
    if (!*got) {
      ahead_end_ = true;
      break;
    }
    AheadLine& line = ahead_[ahead_size_++];
    line.text.swap(line_);
    line.file_index = file_index_;
    line.line_number = source_->line_number();
    line.too_long = too_long;
  }
  UpdateProgress();
  // Contiguous shares, the calling thread's first; every thread its own
  // parser (parsers keep per-line scratch).
  const size_t n = ahead_size_;
  const size_t parts = std::max<size_t>(1, std::min<size_t>(threads, n / 64 + 1));
  while (ahead_parsers_.size() + 1 < parts) ahead_parsers_.push_back(parser_);
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < parts; ++t) {
    helpers.emplace_back([this, t, n, parts] {
      ParseAhead(n * t / parts, n * (t + 1) / parts, &ahead_parsers_[t - 1]);
    });
  }
  ParseAhead(0, n / parts, &parser_);
  for (std::thread& h : helpers) h.join();
}

void LogReader::ParseAhead(size_t begin, size_t end, LogParser* parser) {
  // The samples parsed here are new memory (a shuffle buffer's fill): have
  // the kernel map it in one call rather than fault it in page by page.
  // Parsed, a line takes about as many bytes as its text (8-byte keys for
  // ids of a few digits plus a tab); twice is ample, and what this share
  // leaves over serves the next.
  size_t text_bytes = 0;
  for (size_t i = begin; i < end; ++i) text_bytes += ahead_[i].text.size();
  PrefaultThreadHeap(2 * text_bytes);
  for (size_t i = begin; i < end; ++i) {
    AheadLine& line = ahead_[i];
    if (line.too_long) {
      line.error = LineError::kTooLong;
      line.detail = TooLongDetail();
    } else {
      line.error = parser->Parse(line.text, &line.sample, &line.detail);
    }
  }
}

void LogReader::RecordBadLine(LineError error, const std::string& detail, int file_index,
                              int64_t line_number) {
  ++stats_.bad_lines;
  ++stats_.bad_by_reason[static_cast<int>(error)];
  ++bad_lines_logged_;
  if (bad_lines_logged_ <= kLogFirst || bad_lines_logged_ % kLogEvery == 0) {
    LOG(WARNING) << paths_[file_index] << ":" << line_number
                 << ": malformed line skipped (" << LineErrorName(error) << "): " << detail
                 << (bad_lines_logged_ == kLogFirst
                         ? "; from now on only every 1000th malformed line is logged"
                         : "");
  }
}

Status LogReader::CheckRatio(bool at_end, int file_index, int64_t line_number) const {
  if (stats_.bad_lines == 0) return Status::OK();
  if (!at_end && stats_.lines < options_.min_lines_for_ratio) return Status::OK();
  const double ratio = static_cast<double>(stats_.bad_lines) / static_cast<double>(stats_.lines);
  if (ratio <= options_.max_bad_ratio) return Status::OK();
  std::ostringstream msg;
  msg << paths_[file_index] << ":" << line_number << ": " << stats_.bad_lines
      << " of " << stats_.lines << " lines malformed (ratio " << ratio
      << (at_end ? ", at the end of the input" : "") << ") exceeds --max_bad_ratio="
      << options_.max_bad_ratio << " (part " << options_.part_index << " of "
      << options_.num_parts << "); see the warnings above for the lines and reasons";
  return ResourceExhaustedError(msg.str());
}

void LogReader::LogSummary() const {
  if (stats_.bad_lines == 0) return;
  std::ostringstream msg;
  msg << "log reader over " << paths_.size() << " file(s) from " << paths_[0] << ", part "
      << options_.part_index << " of " << options_.num_parts << ": "
      << stats_.bad_lines << " of " << stats_.lines << " lines malformed and skipped:";
  for (int r = 1; r < kNumLineErrors; ++r) {
    if (stats_.bad_by_reason[r] > 0) {
      msg << " " << LineErrorName(static_cast<LineError>(r)) << "=" << stats_.bad_by_reason[r];
    }
  }
  LOG(WARNING) << msg.str();
}

void LogReader::ResetPass() {
  source_.reset();
  progress_.store(0.0, std::memory_order_relaxed);
  stats_ = ReaderStats();
  error_ = Status::OK();
  done_ = false;
  summary_logged_ = false;
  pending_first_line_ = false;
  ahead_size_ = ahead_used_ = 0;
  ahead_end_ = false;
  ahead_error_ = Status::OK();
}

Status LogReader::Rewind() { return Seek(ReaderPosition()); }

ReaderPosition LogReader::position() const {
  if (ahead_size_ > 0 && (ahead_used_ < ahead_size_ || !done_)) {
    // Lines read ahead count once Next has consumed them.
    if (ahead_used_ == 0) return ahead_start_;
    const AheadLine& last = ahead_[ahead_used_ - 1];
    return ReaderPosition{last.file_index, last.line_number};
  }
  ReaderPosition pos;
  pos.file_index = file_index_;
  // A data line held back by OpenFile was read but not yet consumed.
  pos.line_number = source_ == nullptr ? 0
                                       : source_->line_number() - (pending_first_line_ ? 1 : 0);
  return pos;
}

Status LogReader::Seek(const ReaderPosition& pos) {
  ResetPass();
  if (pos.file_index < 0 || pos.file_index >= static_cast<int>(paths_.size()) ||
      pos.line_number < 0) {
    error_ = InvalidArgumentError("Seek: no file " + std::to_string(pos.file_index) +
                                  " / line " + std::to_string(pos.line_number));
    return error_;
  }
  error_ = OpenFile(pos.file_index);
  while (error_.ok() && position().line_number < pos.line_number) {
    bool too_long = false;
    StatusOr<bool> got = NextLine(&too_long);
    if (!got.ok()) {
      error_ = got.status();
    } else if (!*got) {
      error_ = InvalidArgumentError("Seek: " + paths_[pos.file_index] + " has only " +
                                    std::to_string(source_->line_number()) + " lines, not " +
                                    std::to_string(pos.line_number));
    } else {
      ++data_lines_in_file_;
    }
  }
  UpdateProgress();
  return error_;
}

}  // namespace dips
