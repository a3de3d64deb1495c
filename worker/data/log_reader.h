// LogReader: reads behaviour-log files (docs/log_format.md) in order and
// yields parsed Samples, skipping and counting malformed lines.
//
// Splitting into parts: reader `part_index` of `num_parts` takes data line k
// (0-based, header excluded) of file f when (k + f) % num_parts ==
// part_index. The n readers therefore see every data line exactly once,
// each file contributes evenly to every part (the + f rotates who gets the
// remainder of short files), and the assignment depends only on the position
// inside one file, so Seek needs no knowledge of earlier files. The cost:
// every reader reads (and decompresses) every byte of every file; it only
// skips the parsing and hashing of other parts' lines, which is the larger
// share of the work for these logs. Splitting by file instead would read
// each byte once but balances badly with few or uneven files.
//
// Malformed lines are logged as WARNING with file:line and the reason (the
// first 20 per reader, then every 1000th, plus a summary at the end of each
// pass) and skipped. Once the fraction of malformed lines among this part's
// data lines exceeds max_bad_ratio -- checked after every line once at least
// min_lines_for_ratio lines were read, and always at the end of the input --
// Next returns ResourceExhausted, and keeps returning it.
//
// Not thread-safe; one reader per thread. The one exception is Progress(),
// which any thread may call at any time (for a progress line or an ETA on
// another thread than the one reading).
#ifndef DIPS_WORKER_DATA_LOG_READER_H_
#define DIPS_WORKER_DATA_LOG_READER_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "worker/data/line_source.h"
#include "worker/data/log_parser.h"
#include "worker/data/sample.h"

namespace dips {

struct ReaderOptions {
  // Histories are cut to their most recent max_history behaviours. >= 1.
  int max_history = 100;
  // Abort once more than this fraction of this part's data lines is
  // malformed. In [0, 1]; 1 never aborts.
  double max_bad_ratio = 0.001;
  // The ratio is checked only once this many data lines of this part were
  // read (so one early bad line does not abort), and always at the end.
  int64_t min_lines_for_ratio = 1000;
  // Longer lines are malformed (LineError::kTooLong); memory per reader is
  // bounded by about this plus the read buffers.
  size_t max_line_bytes = 1 << 20;
  // This reader's part, 0 <= part_index < num_parts (see the file comment).
  int part_index = 0;
  int num_parts = 1;
};

// Where a reader stands: `line_number` lines of file `file_index` are
// consumed (1-based number of the last line read; 0 = none yet). Valid to
// save and pass to Seek on a reader opened with the same paths and options.
struct ReaderPosition {
  int file_index = 0;
  int64_t line_number = 0;
  bool operator==(const ReaderPosition& o) const {
    return file_index == o.file_index && line_number == o.line_number;
  }
};

// Counts for the current pass (reset by Rewind and Seek). Lines of other
// parts and header lines are not counted.
struct ReaderStats {
  int64_t lines = 0;        // this part's data lines read
  int64_t samples = 0;      // of those, parsed into a Sample
  int64_t bad_lines = 0;    // of those, malformed and skipped
  std::array<int64_t, kNumLineErrors> bad_by_reason{};  // index: LineError
};

class LogReader {
 public:
  // Opens `paths` (read in this order) and reads the first line of each to
  // learn its schema: every file must have the same one (an empty file
  // matches any). InvalidArgument for bad options, an empty list, a bad
  // header or a schema mismatch; NotFound / IOError if a file cannot be read.
  // Every message names the file.
  static StatusOr<std::unique_ptr<LogReader>> Open(std::vector<std::string> paths,
                                                   const ReaderOptions& options);

  // Next sample of this part into *sample (its vectors are reused). Returns
  // false at the end of the input. Errors: ResourceExhausted past the
  // bad-line ratio; Corruption / IOError from a file (after every complete
  // line before the damage was delivered). Errors are sticky until Rewind
  // or Seek.
  StatusOr<bool> Next(Sample* sample);

  // Reads up to `max_lines` of this part's next data lines now and parses
  // them on `threads` threads (>= 1, the calling one included). The Next
  // calls that follow return their samples, and count and report their
  // malformed lines and the bad-line ratio, exactly as if each line had
  // been read by its own Next; an error met while reading ahead is returned
  // once the lines before it are consumed. Does nothing while lines read
  // ahead remain. For filling a large shuffle buffer: on several cores,
  // and with each thread's heap mapped ahead for its samples
  // (PrefaultThreadHeap, common/malloc_tuning.h), one thread too.
  // Progress() runs ahead by what was read; position() does not.
  void ReadAhead(size_t max_lines, int threads);

  // Back to the first line of the first file, for the next epoch.
  Status Rewind();

  // Where the next Next continues from.
  ReaderPosition position() const;
  // Continues after `pos` (from position() of a reader over the same files).
  // InvalidArgument if it lies outside the files.
  Status Seek(const ReaderPosition& pos);

  // Fraction in [0, 1] of the whole input consumed in this pass, in bytes
  // as stored (compressed for gzip): files before the current one count in
  // full, each file weighs by its size when Open saw it. Exactly 1.0 once
  // Next returned false; after Rewind or Seek, where they left the reader
  // (just past the first file's header for Rewind); non-decreasing in
  // between. All parts read every byte, so every part
  // sees the same fraction at the same place. Thread-safe: Next, Seek and
  // Rewind store the value in an atomic as they return, and this only loads
  // it, so another thread sees the position as of the reader's latest call.
  double Progress() const { return progress_.load(std::memory_order_relaxed); }

  const LogSchema& schema() const { return schema_; }
  const ReaderStats& stats() const { return stats_; }
  const std::vector<std::string>& paths() const { return paths_; }

 private:
  LogReader(std::vector<std::string> paths, std::vector<uint64_t> file_bytes,
            const ReaderOptions& options, LogSchema schema);

  // Next's work; Next adds the progress update on every way out.
  StatusOr<bool> NextSample(Sample* sample);
  // Stores the current position as a fraction in progress_.
  void UpdateProgress();

  // Opens file `index`, checks its schema and consumes its header line.
  Status OpenFile(int index);
  // Reads the next line of the current file into line_; false at its end.
  StatusOr<bool> NextLine(bool* too_long);
  // Reads this part's next data line into line_, opening the next file
  // where one ends; false at the end of the last file.
  StatusOr<bool> NextOwnedLine(bool* too_long);
  // The detail logged for a line over max_line_bytes.
  std::string TooLongDetail() const {
    return "longer than " + std::to_string(options_.max_line_bytes) + " bytes";
  }
  // Parses ahead_[begin, end) with `parser`.
  void ParseAhead(size_t begin, size_t end, LogParser* parser);
  // True if the current line (a data line) belongs to this part.
  bool OwnsLine() const;
  void RecordBadLine(LineError error, const std::string& detail, int file_index,
                     int64_t line_number);
  // ResourceExhausted if the bad-line ratio is exceeded (`at_end`: the
  // whole input was read, so min_lines_for_ratio does not apply); the
  // message names line `line_number` of file `file_index`.
  Status CheckRatio(bool at_end, int file_index, int64_t line_number) const;
  void LogSummary() const;
  void ResetPass();

  const std::vector<std::string> paths_;
  const ReaderOptions options_;
  const LogSchema schema_;
  LogParser parser_;
  // file_start_[i]: bytes (as stored) of the files before file i, as Open
  // saw them; file_start_.back() is the total.
  std::vector<uint64_t> file_start_;

  std::unique_ptr<LineSource> source_;
  int file_index_ = 0;
  int64_t data_lines_in_file_ = 0;  // data lines of the current file seen (all parts)
  // OpenFile reads a file's first line to check its schema; when that is a
  // data line it is held in line_ and returned by the next NextLine.
  bool pending_first_line_ = false;
  bool pending_too_long_ = false;
  bool done_ = false;               // every file read in this pass
  bool summary_logged_ = false;
  Status error_;                    // sticky error of this pass
  std::string line_;
  std::string detail_;
  ReaderStats stats_;
  int64_t bad_lines_logged_ = 0;    // over the reader's lifetime, for throttling

  // Lines read ahead (ReadAhead), in order; ahead_ keeps its capacity.
  struct AheadLine {
    std::string text;
    int file_index = 0;
    int64_t line_number = 0;
    bool too_long = false;
    LineError error = LineError::kOk;
    std::string detail;
    Sample sample;
  };
  std::vector<AheadLine> ahead_;
  size_t ahead_size_ = 0;          // entries read in the latest ReadAhead
  size_t ahead_used_ = 0;          // of those, consumed by Next
  bool ahead_end_ = false;         // the input ended after the last entry
  Status ahead_error_;             // met while reading after the last entry
  ReaderPosition ahead_start_;     // position() before the first entry
  std::vector<LogParser> ahead_parsers_;  // one per extra ReadAhead thread
  // Written only by the reading thread, read by any (Progress). Relaxed
  // order suffices: it is a standalone estimate that publishes no other data.
  std::atomic<double> progress_{0.0};
};

}  // namespace dips

#endif  // DIPS_WORKER_DATA_LOG_READER_H_
