// `dips predict`: scores a behaviour log with a serving bundle.
//   dips predict --bundle=DIR [--input=FILE|-] [--output=FILE] [--batch_size=256]
//                [--with_label]
// Reads the training formats (docs/log_format.md; plain or gzip; "-" is
// stdin, plain text) and writes one line per input data line, in input order: the
// click probability, or "nan" for a malformed line (logged with its line
// number), followed by a TAB and the line's label with --with_label.
// Lines are scored in batches of --batch_size (the flag shared with
// `dips train`; 256 unless given), so on an interactive stdin a line's
// score appears once its batch is full or the input ends: use
// --batch_size=1 for line-at-a-time answers. A summary (lines, malformed,
// samples/s, and AUC/logloss over the labels) goes to stderr.
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <gflags/gflags.h>
#include <glog/logging.h>

#include "tools/predictor/predictor.h"
#include "tools/subcommands.h"
#include "worker/data/line_source.h"
#include "worker/data/log_parser.h"
#include "worker/train/metrics.h"

DEFINE_string(bundle, "", "predict: serving bundle directory (dips export)");
DEFINE_string(input, "-", "predict: behaviour log to score (plain or gzip); - is stdin");
DEFINE_string(output, "", "predict: file for the probabilities (default stdout)");
DEFINE_bool(with_label, false, "predict: append a TAB and the line's label to each output line");
DECLARE_int32(batch_size);

namespace dips {
namespace {

constexpr int kDefaultBatch = 256;
constexpr int64_t kBadLinesLogged = 20;

// Stdin is read as plain text (pipe gzip through zcat): LineSource needs a
// seekable file to detect compression. A line is held whole here, and
// lines over LineSourceOptions' limit are malformed as they are for files.
StatusOr<bool> ReadStdinLine(std::string* line, bool* too_long) {
  if (!std::getline(std::cin, *line)) {
    if (std::cin.bad()) return IOError("cannot read stdin");
    return false;
  }
  *too_long = line->size() > LineSourceOptions().max_line_bytes;
  return true;
}

struct FileCloser {
  void operator()(FILE* f) const {
    if (f != nullptr && f != stdout) std::fclose(f);
  }
};

// Scores the input line by line; every data line gets one output line.
class PredictRun {
 public:
  PredictRun(Predictor* predictor, FILE* out, int batch_size, const std::string& input)
      : predictor_(predictor), out_(out), input_(input), batch_size_(batch_size),
        samples_(batch_size), parser_(predictor->schema(), predictor->max_history()) {}

  // next(line, too_long) yields the input's lines; false at its end.
  Status Run(const std::function<StatusOr<bool>(std::string*, bool*)>& next) {
    std::string line;
    bool too_long = false;
    bool first = true;
    int64_t line_number = 0;
    while (true) {
      ASSIGN_OR_RETURN(bool more, next(&line, &too_long));
      if (!more) break;
      ++line_number;
      if (first && IsHeaderLine(line)) {
        first = false;
        ASSIGN_OR_RETURN(LogSchema schema, ParseHeader(line));
        if (schema != predictor_->schema()) {
          return InvalidArgumentError(input_ + ":1: the header's columns are not the ones the "
                                      "bundle's model was trained on");
        }
        continue;
      }
      first = false;
      ++lines_;
      std::string detail;
      const LineError error =
          too_long ? LineError::kTooLong
                   : parser_.Parse(line, &samples_[pending_samples_], &detail);
      if (error == LineError::kOk) {
        slots_.push_back(pending_samples_++);
      } else {
        slots_.push_back(-1);
        if (++bad_lines_ <= kBadLinesLogged) {
          LOG(WARNING) << input_ << ":" << line_number << ": " << LineErrorName(error)
                       << " " << detail << " (scored nan)";
        }
      }
      if (pending_samples_ == batch_size_) RETURN_IF_ERROR(Flush());
    }
    return Flush();
  }

  void PrintSummary(double seconds) const {
    const double rate = seconds > 0 ? static_cast<double>(labels_.size()) / seconds : 0.0;
    std::fprintf(stderr,
                 "dips predict: %" PRId64 " lines, %zu scored, %" PRId64
                 " malformed, %.2f s, %.0f samples/s\n",
                 lines_, labels_.size(), bad_lines_, seconds, rate);
    if (labels_.empty()) return;
    MetricsAccumulator metrics;
    metrics.Add(probs_all_.data(), labels_.data(), users_.data(), static_cast<int>(labels_.size()));
    const EvalMetrics m = metrics.Compute();
    std::fprintf(stderr, "dips predict: AUC %.4f, GAUC %.4f, logloss %.4f\n", m.auc, m.gauc,
                 m.logloss);
  }

 private:
  // Scores the pending samples and writes every pending line's output.
  Status Flush() {
    probs_.resize(pending_samples_);
    RETURN_IF_ERROR(predictor_->Score(samples_.data(), pending_samples_, probs_.data()));
    for (int slot : slots_) {
      if (slot < 0) {
        std::fprintf(out_, FLAGS_with_label ? "nan\tnan\n" : "nan\n");
        continue;
      }
      const Sample& s = samples_[slot];
      if (FLAGS_with_label) {
        std::fprintf(out_, "%.9g\t%g\n", probs_[slot], s.label);
      } else {
        std::fprintf(out_, "%.9g\n", probs_[slot]);
      }
      probs_all_.push_back(probs_[slot]);
      labels_.push_back(s.label);
      users_.push_back(s.user_key);
    }
    std::fflush(out_);
    if (std::ferror(out_)) return IOError("cannot write the output");
    slots_.clear();
    pending_samples_ = 0;
    return Status::OK();
  }

  Predictor* predictor_;
  FILE* out_;
  const std::string input_;
  const size_t batch_size_;
  std::vector<Sample> samples_;  // reused: the parser refills their vectors
  LogParser parser_;
  size_t pending_samples_ = 0;
  std::vector<int> slots_;       // per pending line: its sample, or -1 if malformed
  std::vector<float> probs_;
  int64_t lines_ = 0;
  int64_t bad_lines_ = 0;
  // For the summary's metrics.
  std::vector<float> probs_all_, labels_;
  std::vector<uint64_t> users_;
};

}  // namespace

int RunPredict(int argc, char** argv) {
  if (argc > 1) {
    std::fprintf(stderr, "dips predict: unexpected argument '%s' (predict takes only flags)\n",
                 argv[1]);
    return 2;
  }
  if (FLAGS_bundle.empty()) {
    std::fprintf(stderr, "dips predict: --bundle is required\n");
    return 2;
  }
  gflags::CommandLineFlagInfo batch_flag;
  const bool batch_given =
      gflags::GetCommandLineFlagInfo("batch_size", &batch_flag) && !batch_flag.is_default;
  const int batch_size = batch_given ? FLAGS_batch_size : kDefaultBatch;
  if (batch_size < 1) {
    std::fprintf(stderr, "dips predict: --batch_size must be >= 1\n");
    return 2;
  }
  PredictorOptions options;
  options.max_batch = batch_size;
  StatusOr<std::unique_ptr<Predictor>> predictor = Predictor::Open(FLAGS_bundle, options);
  if (!predictor.ok()) {
    std::fprintf(stderr, "dips predict: %s\n", predictor.status().ToString().c_str());
    return 1;
  }
  std::function<StatusOr<bool>(std::string*, bool*)> next;
  std::unique_ptr<LineSource> source;
  if (FLAGS_input == "-") {
    next = ReadStdinLine;
  } else {
    StatusOr<std::unique_ptr<LineSource>> opened = LineSource::Open(FLAGS_input, LineSourceOptions());
    if (!opened.ok()) {
      std::fprintf(stderr, "dips predict: %s\n", opened.status().ToString().c_str());
      return 1;
    }
    source = std::move(opened).value();
    next = [&source](std::string* line, bool* too_long) { return source->Next(line, too_long); };
  }
  std::unique_ptr<FILE, FileCloser> out(FLAGS_output.empty() ? stdout
                                                             : std::fopen(FLAGS_output.c_str(), "w"));
  if (out == nullptr) {
    std::fprintf(stderr, "dips predict: cannot create %s\n", FLAGS_output.c_str());
    return 1;
  }
  const auto start = std::chrono::steady_clock::now();
  PredictRun run(predictor->get(), out.get(), batch_size, FLAGS_input);
  Status status = run.Run(next);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!status.ok()) {
    std::fprintf(stderr, "dips predict: %s\n", status.ToString().c_str());
    return 1;
  }
  run.PrintSummary(seconds);
  return 0;
}

}  // namespace dips
