// BatchStream: turns a LogReader into a stream of Batches, reading and
// building on a background thread so parsing overlaps the training step.
// Consumer-side threads that would otherwise wait may build batches too
// (HelpProduce). One pass over the data per StartPass(); batches are built
// one at a time, in the order of the reader, whichever thread builds them,
// so runs with a fixed seed are reproducible.
//
// Thread-safety: StartPass and Next are for one consumer thread;
// HelpProduce may be called from any thread while a pass runs, concurrently
// with Next; EstimatedPassSamples from the consumer thread.
#ifndef DIPS_WORKER_TRAIN_BATCH_STREAM_H_
#define DIPS_WORKER_TRAIN_BATCH_STREAM_H_

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "common/status.h"
#include "common/thread_annotations.h"
#include "worker/data/batch.h"
#include "worker/data/batch_builder.h"
#include "worker/data/log_reader.h"

namespace dips {

struct BatchStreamOptions {
  int batch_size = 128;
  int queue_depth = 8;  // batches built ahead of the consumer
  // Batches the background thread keeps queued, at most queue_depth; 0
  // means queue_depth. Threads calling HelpProduce fill the queue beyond
  // it. A trainer whose replicas help sets it low, so that they, and not
  // the background thread, build most batches.
  int background_depth = 0;
  // Samples held in a shuffle buffer: each sample read replaces a uniformly
  // drawn one, which goes out. 0 or 1 keeps the file order (evaluation).
  // Logs are often grouped by user or time; without shuffling, whole batches
  // come from one user. Memory: about (24 * history + 200) bytes a sample.
  int shuffle_buffer = 0;
  uint64_t shuffle_seed = 1;  // pass p uses seed + p: reproducible passes
  // Threads that parse while the shuffle buffer fills at the start of a
  // pass (LogReader::ReadAhead, kFillChunkLines lines at a time), before
  // the first batch exists and the consumer waits anyway. 1: the stream's
  // own thread alone. The samples and their order do not depend on it.
  int fill_threads = 1;
  BatchBuilderOptions builder;
};

// The shuffle (and negative-sampling) seed of reader part `part_index` of a
// job seeded `seed`. Parts are every n-th line, so parts shuffled with one
// seed would be permuted alike: at every position part w would deliver the
// line right after part 0's, and in a log sorted by user and time the
// workers' batches of a step would hold the same users' neighbouring
// samples. Part 0 keeps `seed` (one worker trains as one process does).
inline uint64_t PartShuffleSeed(uint64_t seed, int part_index) {
  return seed + static_cast<uint64_t>(part_index) * 0x9E3779B97F4A7C15ULL;
}

class BatchStream {
 public:
  // Lines parsed together while the shuffle buffer fills: large enough
  // that each thread's share outweighs starting it (about a millisecond
  // each), small enough to keep the extra memory near 5 MB at history 100.
  static constexpr size_t kFillChunkLines = 1024;

  BatchStream(std::unique_ptr<LogReader> reader, const BatchStreamOptions& options);
  ~BatchStream();
  BatchStream(const BatchStream&) = delete;
  BatchStream& operator=(const BatchStream&) = delete;

  // Rewinds the reader and starts producing the batches of a new pass.
  // Stops a pass still in progress.
  Status StartPass();
  // The index of the pass the next StartPass starts (its shuffle seed is
  // shuffle_seed + pass); passes count up from 0. A resumed job sets it to
  // repeat the order its checkpoint's pass had.
  void set_next_pass(uint64_t pass) { passes_ = pass; }

  // Swaps the next batch of the pass into *batch (its old buffers are
  // recycled). Returns false at the end of the pass, or the reader's error
  // (e.g. too many malformed lines).
  StatusOr<bool> Next(Batch* batch);

  // Builds the pass's next batch on the calling thread if the queue has
  // room and no other thread is building one; returns whether it built
  // one. For a thread with nothing else to do, e.g. a replica that finished
  // its step before the others: on a machine with as many cores as
  // replicas, the batches it builds are ones the background thread does
  // not build by taking a core from a replica in mid-step. Not to be
  // called concurrently with StartPass or the destructor.
  bool HelpProduce();

  // For its schema and Progress, which are safe to read while a pass runs.
  const LogReader& reader() const { return *reader_; }

  // Estimated number of samples in this pass, from the samples the producer
  // has read so far over the fraction of the input they came from
  // (LogReader::Progress); 0 until 1% of the input is read. Both numbers
  // are the producer's, so the queue and the shuffle buffer running ahead
  // of the consumer do not bias it. Callable from the consumer thread.
  double EstimatedPassSamples() const;

 private:
  enum class Produced { kBatch, kNoRoom, kPassOver };
  // The background thread: builds batches while the queue has room.
  void Produce();
  // Reads and builds the next batch into the queue, or records the end of
  // the pass (or the reader's error) when the input is exhausted.
  Produced ProduceOne() REQUIRES(produce_mu_);
  void StopProducer();
  // reader_->Next, counting the samples read in this pass.
  StatusOr<bool> ReadSample(Sample* sample) REQUIRES(produce_mu_);
  // Next sample in shuffled order into *out; false at the end of the pass.
  StatusOr<bool> NextShuffled(Sample* out) REQUIRES(produce_mu_);

  const BatchStreamOptions options_;
  const int background_depth_;  // options_.background_depth, 0 resolved
  std::thread producer_;
  std::atomic<int64_t> samples_read_{0};  // written under produce_mu_ only

  // Held while a batch is read and built, by the background thread or a
  // helper; it serialises everything the building touches.
  std::mutex produce_mu_;
  // Read under produce_mu_; its Progress and schema are safe from any thread.
  std::unique_ptr<LogReader> reader_;
  BatchBuilder builder_ GUARDED_BY(produce_mu_);
  std::vector<Sample> samples_ GUARDED_BY(produce_mu_);  // one batch's samples
  // State of the shuffle buffer.
  std::vector<Sample> shuffle_pool_ GUARDED_BY(produce_mu_);
  size_t shuffle_fill_ GUARDED_BY(produce_mu_) = 0;  // valid samples in shuffle_pool_
  bool input_done_ GUARDED_BY(produce_mu_) = false;
  std::mt19937_64 shuffle_rng_ GUARDED_BY(produce_mu_);
  uint64_t passes_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> ready_ GUARDED_BY(mu_);
  std::vector<Batch> free_ GUARDED_BY(mu_);
  bool done_ GUARDED_BY(mu_) = true;    // the pass's last batch is queued
  bool stop_ GUARDED_BY(mu_) = false;   // consumer asked it to stop
  Status error_ GUARDED_BY(mu_);
};

}  // namespace dips

#endif  // DIPS_WORKER_TRAIN_BATCH_STREAM_H_
