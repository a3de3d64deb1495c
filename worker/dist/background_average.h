// BackgroundAverage: runs DenseSync::Average on a thread of its own, so a
// worker can compute its next step while the previous step's dense
// gradients are averaged across workers. At most one average is in flight.
//
// Why: every worker waits at each step's all-reduce for the slowest one.
// Where workers share cores with servers (or with each other), that wait
// was a fifth of a DIN worker's time (docs/results.md). Started at the end
// of step k and awaited at the end of step k + 1, the average has a whole
// step to absorb the other workers' lag; the price is that step k's dense
// gradients reach the parameters one step late (the trainer's
// overlap_dense_sync).
//
// MPI: the library is initialised MPI_THREAD_SERIALIZED, so while an
// average is pending the owning thread must make no MPI call of its own
// (Wait first). All workers must start their averages in the same order
// with the same sizes, as with DenseSync.
#ifndef DIPS_WORKER_DIST_BACKGROUND_AVERAGE_H_
#define DIPS_WORKER_DIST_BACKGROUND_AVERAGE_H_

#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"
#include "worker/dist/dense_sync.h"

namespace dips {

class BackgroundAverage {
 public:
  // `sync` is not owned and must outlive this object.
  explicit BackgroundAverage(DenseSync* sync);
  // Waits for an average in flight, then ends the thread.
  ~BackgroundAverage();

  BackgroundAverage(const BackgroundAverage&) = delete;
  BackgroundAverage& operator=(const BackgroundAverage&) = delete;

  // Starts sync->Average(data, n, what) on the background thread. data[0, n)
  // belongs to it until Wait returns. Must not be called while pending().
  void Start(float* data, size_t n, std::string what);

  // Waits for the average in flight and returns its Status (OK when none is
  // pending). After an error the DenseSync is unusable, as after its own.
  Status Wait();

  // Whether a started average has not been waited for. Owner thread only.
  bool pending() const { return pending_; }

  // Whether the average in flight has finished, so that Wait would not
  // block (true when none is pending). Owner thread only.
  bool Finished();

 private:
  void Run();

  DenseSync* const sync_;
  std::mutex mu_;
  std::condition_variable cv_;
  // Guarded by mu_: the job, and its result.
  float* data_ = nullptr;
  size_t n_ = 0;
  std::string what_;
  bool has_job_ = false;
  bool done_ = false;
  bool stop_ = false;
  Status result_;
  // Owner thread only.
  bool pending_ = false;
  std::thread thread_;  // last: starts after the fields above exist
};

}  // namespace dips

#endif  // DIPS_WORKER_DIST_BACKGROUND_AVERAGE_H_
