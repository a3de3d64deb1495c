#include "worker/train/embedding_store.h"

#include <mutex>
#include <unordered_map>

#include "common/thread_annotations.h"
#include "ps/sparse_table.h"
#include "worker/client/ps_client.h"

namespace dips {
namespace {

// The table is synchronous: the work happens in Pull/Push and the status
// waits in a map for its Wait.
class TableStore : public EmbeddingStore {
 public:
  explicit TableStore(SparseTable* table) : table_(table) {}

  uint64_t Pull(const uint64_t* keys, size_t n, bool create_missing, float* values,
                uint64_t* counts) override {
    return Record(table_->Pull(keys, n, create_missing, values, counts));
  }
  uint64_t Push(const uint64_t* keys, size_t n, const float* grads,
                const uint32_t* occurrences, int64_t step) override {
    return Record(table_->Push(keys, n, grads, occurrences, step));
  }
  Status Wait(uint64_t ticket) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = done_.find(ticket);
    if (it == done_.end()) {
      return InvalidArgumentError("unknown or already waited-for ticket " +
                                  std::to_string(ticket));
    }
    Status status = std::move(it->second);
    done_.erase(it);
    return status;
  }

 private:
  uint64_t Record(Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t ticket = ++last_ticket_;
    done_.emplace(ticket, std::move(status));
    return ticket;
  }

  SparseTable* const table_;
  std::mutex mu_;
  uint64_t last_ticket_ GUARDED_BY(mu_) = 0;
  std::unordered_map<uint64_t, Status> done_ GUARDED_BY(mu_);
};

class PsClientStore : public EmbeddingStore {
 public:
  explicit PsClientStore(PsClient* client) : client_(client) {}

  uint64_t Pull(const uint64_t* keys, size_t n, bool create_missing, float* values,
                uint64_t* counts) override {
    return client_->Pull(keys, n, create_missing, values, counts);
  }
  uint64_t Push(const uint64_t* keys, size_t n, const float* grads,
                const uint32_t* occurrences, int64_t step) override {
    return client_->Push(keys, n, grads, occurrences, step);
  }
  Status Wait(uint64_t ticket) override { return client_->Wait(ticket); }

 private:
  PsClient* const client_;
};

}  // namespace

std::unique_ptr<EmbeddingStore> NewTableStore(SparseTable* table) {
  return std::make_unique<TableStore>(table);
}

std::unique_ptr<EmbeddingStore> NewPsClientStore(PsClient* client) {
  return std::make_unique<PsClientStore>(client);
}

}  // namespace dips
