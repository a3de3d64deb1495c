#include "worker/train/batch_stream.h"

#include <algorithm>
#include <utility>

#include <glog/logging.h>

namespace dips {

BatchStream::BatchStream(std::unique_ptr<LogReader> reader,
                         const BatchStreamOptions& options)
    : options_(options),
      background_depth_(options.background_depth > 0 ? options.background_depth
                                                      : options.queue_depth),
      reader_(std::move(reader)),
      builder_(options.builder) {
  CHECK_GT(options_.batch_size, 0);
  CHECK_GT(options_.queue_depth, 0);
  CHECK_GE(options_.background_depth, 0);
  CHECK_GE(options_.fill_threads, 1);
  CHECK_LE(options_.background_depth, options_.queue_depth);
  samples_.resize(options_.batch_size);
}

BatchStream::~BatchStream() { StopProducer(); }

void BatchStream::StopProducer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (producer_.joinable()) producer_.join();
}

Status BatchStream::StartPass() {
  StopProducer();
  {
    std::lock_guard<std::mutex> produce(produce_mu_);
    RETURN_IF_ERROR(reader_->Rewind());
    shuffle_fill_ = 0;
    input_done_ = false;
    shuffle_rng_.seed(options_.shuffle_seed + passes_++);
    if (options_.shuffle_buffer > 1) shuffle_pool_.resize(options_.shuffle_buffer);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    while (!ready_.empty()) {
      free_.push_back(std::move(ready_.front()));
      ready_.pop_front();
    }
    done_ = false;
    stop_ = false;
    error_ = Status::OK();
  }
  samples_read_.store(0);
  producer_ = std::thread([this] { Produce(); });
  return Status::OK();
}

void BatchStream::Produce() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] {
        return stop_ || done_ || static_cast<int>(ready_.size()) < background_depth_;
      });
      if (stop_ || done_) return;
    }
    std::lock_guard<std::mutex> produce(produce_mu_);
    if (ProduceOne() == Produced::kPassOver) return;
  }
}

bool BatchStream::HelpProduce() {
  std::unique_lock<std::mutex> produce(produce_mu_, std::try_to_lock);
  if (!produce.owns_lock()) return false;  // another thread is building
  // ProduceOne declines a full queue or a pass that is over.
  return ProduceOne() == Produced::kBatch;
}

BatchStream::Produced BatchStream::ProduceOne() {
  Batch batch;
  {
    // Checked under produce_mu_: another thread may have filled the queue
    // or ended the pass while this one waited for it.
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_ || done_) return Produced::kPassOver;
    if (static_cast<int>(ready_.size()) >= options_.queue_depth) return Produced::kNoRoom;
    if (!free_.empty()) {
      batch = std::move(free_.back());
      free_.pop_back();
    }
  }
  Status status;
  bool end = false;
  int n = 0;
  while (n < options_.batch_size) {
    StatusOr<bool> more = options_.shuffle_buffer > 1 ? NextShuffled(&samples_[n])
                                                      : ReadSample(&samples_[n]);
    if (!more.ok()) {
      status = more.status();
      end = true;
      break;
    }
    if (!*more) {
      end = true;
      break;
    }
    ++n;
  }
  // A batch cut short by a reader error is dropped with the error.
  const bool deliver = n > 0 && status.ok();
  if (deliver) builder_.Build(samples_.data(), n, reader_->schema(), &batch);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (deliver) {
      ready_.push_back(std::move(batch));
    } else {
      free_.push_back(std::move(batch));
    }
    if (end) {
      done_ = true;
      error_ = status;
    }
  }
  cv_.notify_all();
  // Without a batch, the pass is over (n == 0 or an error).
  return deliver ? Produced::kBatch : Produced::kPassOver;
}

StatusOr<bool> BatchStream::ReadSample(Sample* sample) {
  StatusOr<bool> more = reader_->Next(sample);
  if (more.ok() && *more) samples_read_.fetch_add(1, std::memory_order_relaxed);
  return more;
}

double BatchStream::EstimatedPassSamples() const {
  // Read the count first: the fraction only grows, so the pair errs low
  // by at most the samples read in between.
  const double read = static_cast<double>(samples_read_.load(std::memory_order_relaxed));
  const double fraction = reader_->Progress();
  return fraction > 0.01 ? read / fraction : 0.0;
}

StatusOr<bool> BatchStream::NextShuffled(Sample* out) {
  // Fill the pool first; then every sample read displaces a random one.
  while (!input_done_ && shuffle_fill_ < shuffle_pool_.size()) {
    // A no-op while lines read ahead remain.
    reader_->ReadAhead(std::min(kFillChunkLines, shuffle_pool_.size() - shuffle_fill_),
                       options_.fill_threads);
    ASSIGN_OR_RETURN(bool more, ReadSample(&shuffle_pool_[shuffle_fill_]));
    if (!more) {
      input_done_ = true;
      break;
    }
    ++shuffle_fill_;
  }
  if (shuffle_fill_ == 0) return false;
  const size_t j = std::uniform_int_distribution<size_t>(0, shuffle_fill_ - 1)(shuffle_rng_);
  std::swap(*out, shuffle_pool_[j]);
  if (!input_done_) {
    ASSIGN_OR_RETURN(bool more, ReadSample(&shuffle_pool_[j]));
    if (more) return true;
    input_done_ = true;
  }
  // Input exhausted: close the hole with the last sample, drain at random.
  std::swap(shuffle_pool_[j], shuffle_pool_[shuffle_fill_ - 1]);
  --shuffle_fill_;
  return true;
}

StatusOr<bool> BatchStream::Next(Batch* batch) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return !ready_.empty() || done_; });
  if (ready_.empty()) {
    if (!error_.ok()) return error_;
    return false;
  }
  std::swap(*batch, ready_.front());
  free_.push_back(std::move(ready_.front()));
  ready_.pop_front();
  lock.unlock();
  cv_.notify_all();
  return true;
}

}  // namespace dips
