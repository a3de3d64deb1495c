#include "worker/train/embedding_store.h"

#include <mutex>
#include <unordered_map>

#include "common/thread_annotations.h"
#include "ps/checkpoint/checkpoint.h"
#include "ps/checkpoint/shard_checkpoint.h"
#include "ps/sparse_table.h"
#include "worker/client/ps_client.h"

namespace dips {
namespace {

// The table is synchronous: the work happens in Pull/Push and the status
// waits in a map for its Wait.
class TableStore : public EmbeddingStore {
 public:
  TableStore(SparseTable* table, SparseOptimizerKind optimizer)
      : table_(table), optimizer_(optimizer) {}

  uint64_t Pull(const uint64_t* keys, size_t n, bool create_missing, float* values,
                uint64_t* counts) override {
    return Record(table_->Pull(keys, n, create_missing, values, counts));
  }
  uint64_t Push(const uint64_t* keys, size_t n, const float* grads,
                const uint32_t* occurrences, int64_t step) override {
    return Record(table_->Push(keys, n, grads, occurrences, step));
  }
  PushPullTickets PushThenPull(const PushArgs& push, const PullArgs& pull) override {
    const uint64_t pushed = Push(push.keys, push.n, push.grads, push.occurrences, push.step);
    return {pushed, Pull(pull.keys, pull.n, pull.create_missing, pull.values, pull.counts)};
  }
  bool PushThenPullSavesRoundTrips() const override { return false; }
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

  StatusOr<std::vector<ShardCheckpoint>> SaveRows(const std::string& root,
                                                  const std::string& name,
                                                  int64_t since_step) override {
    ShardCheckpointOptions options;
    options.optimizer = optimizer_;
    options.since_step = since_step;
    ASSIGN_OR_RETURN(ShardCheckpoint shard,
                     writer_.Write(table_, options, JoinPath(root, name)));
    return std::vector<ShardCheckpoint>{std::move(shard)};
  }

 private:
  uint64_t Record(Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t ticket = ++last_ticket_;
    done_.emplace(ticket, std::move(status));
    return ticket;
  }

  SparseTable* const table_;
  const SparseOptimizerKind optimizer_;
  ShardCheckpointWriter writer_;
  std::mutex mu_;
  uint64_t last_ticket_ GUARDED_BY(mu_) = 0;
  std::unordered_map<uint64_t, Status> done_ GUARDED_BY(mu_);
};

class PsClientStore : public EmbeddingStore {
 public:
  PsClientStore(PsClient* client, int64_t checkpoint_timeout_ms)
      : client_(client), checkpoint_timeout_ms_(checkpoint_timeout_ms) {}

  uint64_t Pull(const uint64_t* keys, size_t n, bool create_missing, float* values,
                uint64_t* counts) override {
    return client_->Pull(keys, n, create_missing, values, counts);
  }
  uint64_t Push(const uint64_t* keys, size_t n, const float* grads,
                const uint32_t* occurrences, int64_t step) override {
    return client_->Push(keys, n, grads, occurrences, step);
  }
  PushPullTickets PushThenPull(const PushArgs& push, const PullArgs& pull) override {
    return client_->PushThenPull(push, pull);
  }
  bool PushThenPullSavesRoundTrips() const override { return true; }
  Status Wait(uint64_t ticket) override { return client_->Wait(ticket); }

  StatusOr<std::vector<ShardCheckpoint>> SaveRows(const std::string& /*root*/,
                                                  const std::string& name,
                                                  int64_t since_step) override {
    ASSIGN_OR_RETURN(std::vector<ShardCheckpointReply> replies,
                     client_->Checkpoint(name, since_step, checkpoint_timeout_ms_));
    std::vector<ShardCheckpoint> shards;
    for (size_t s = 0; s < replies.size(); ++s) {
      ShardCheckpoint shard;
      shard.shard = static_cast<uint32_t>(s);
      shard.rows = replies[s].rows;
      shard.rocksdb_dir = replies[s].rocksdb_dir;
      shard.column_family = replies[s].column_family;
      for (const ShardCheckpointReply::File& f : replies[s].files) {
        shard.files.push_back(
            ShardCheckpointFile{f.name, FileDigest{f.bytes, f.crc32}, f.rows});
      }
      shards.push_back(std::move(shard));
    }
    return shards;
  }

 private:
  PsClient* const client_;
  const int64_t checkpoint_timeout_ms_;
};

}  // namespace

std::unique_ptr<EmbeddingStore> NewTableStore(SparseTable* table, SparseOptimizerKind optimizer) {
  return std::make_unique<TableStore>(table, optimizer);
}

std::unique_ptr<EmbeddingStore> NewPsClientStore(PsClient* client,
                                                 int64_t checkpoint_timeout_ms) {
  return std::make_unique<PsClientStore>(client, checkpoint_timeout_ms);
}

}  // namespace dips
