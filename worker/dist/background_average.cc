#include "worker/dist/background_average.h"

#include <glog/logging.h>

#include <utility>

namespace dips {

BackgroundAverage::BackgroundAverage(DenseSync* sync)
    : sync_(sync), thread_([this] { Run(); }) {
  CHECK(sync_ != nullptr);
}

BackgroundAverage::~BackgroundAverage() {
  if (pending_) {
    const Status s = Wait();
    if (!s.ok()) LOG(WARNING) << "dense average in flight at shutdown: " << s.ToString();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void BackgroundAverage::Start(float* data, size_t n, std::string what) {
  CHECK(!pending_) << "BackgroundAverage::Start with an average in flight";
  {
    std::lock_guard<std::mutex> lock(mu_);
    data_ = data;
    n_ = n;
    what_ = std::move(what);
    has_job_ = true;
    done_ = false;
  }
  pending_ = true;
  cv_.notify_all();
}

bool BackgroundAverage::Finished() {
  if (!pending_) return true;
  std::lock_guard<std::mutex> lock(mu_);
  return done_;
}

Status BackgroundAverage::Wait() {
  if (!pending_) return Status::OK();
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return done_; });
  pending_ = false;
  return result_;
}

void BackgroundAverage::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return has_job_ || stop_; });
    if (!has_job_) return;  // stop_ with nothing left to do
    has_job_ = false;
    float* data = data_;
    const size_t n = n_;
    const std::string what = what_;
    lock.unlock();
    // The mutex hand-off orders this thread's MPI calls after the owner's
    // earlier ones and before its later ones (MPI_THREAD_SERIALIZED).
    Status result = sync_->Average(data, n, what);
    lock.lock();
    result_ = std::move(result);
    done_ = true;
    cv_.notify_all();
  }
}

}  // namespace dips
