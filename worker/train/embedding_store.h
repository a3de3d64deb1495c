// EmbeddingStore: where the trainer's embedding rows live — an in-process
// SparseTable (single-process training and unit tests) or the parameter
// servers through a PsClient (distributed training). Asynchronous with
// tickets in the ps-lite style: Pull/Push return at once, Wait blocks.
//
// Thread-safety: all methods may be called from several threads.
#ifndef DIPS_WORKER_TRAIN_EMBEDDING_STORE_H_
#define DIPS_WORKER_TRAIN_EMBEDDING_STORE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "ps/checkpoint/shard_checkpoint.h"
#include "ps/sparse_optimizer.h"
#include "worker/client/ps_client.h"

namespace dips {

class SparseTable;

class EmbeddingStore {
 public:
  virtual ~EmbeddingStore() = default;

  // Rows of `keys` into values [n x dim] and occurrence counts into counts
  // [n] (may be null). Both buffers must stay valid until Wait(ticket).
  virtual uint64_t Pull(const uint64_t* keys, size_t n, bool create_missing, float* values,
                        uint64_t* counts) = 0;
  // Applies summed row gradients [n x dim]; occurrences (may be null) are
  // added to the rows' counts. The inputs may be reused once Push returns.
  virtual uint64_t Push(const uint64_t* keys, size_t n, const float* grads,
                        const uint32_t* occurrences, int64_t step) = 0;
  // A Push, then a Pull whose rows include it (PsClient::PushThenPull).
  virtual PushPullTickets PushThenPull(const PushArgs& push, const PullArgs& pull) = 0;
  // Whether PushThenPull saves round trips over a Push, its Wait and a
  // Pull: true for the parameter servers. In process it does not, and a
  // step's pushes are better sent from the replicas' own threads.
  virtual bool PushThenPullSavesRoundTrips() const = 0;
  // Blocks until the operation is done; its status. Each ticket is waited
  // for once.
  virtual Status Wait(uint64_t ticket) = 0;

  // Writes the rows updated after since_step (-1: every pushed row) into
  // checkpoint directory root/name, which exists: per shard a row file, or
  // a RocksDB checkpoint of every row for a shard with a disk tier
  // (ps/checkpoint/shard_checkpoint.h). Every push must have been waited
  // for. Servers write under their own checkpoint root, which a job sets to
  // the same `root` (docs/checkpoints.md). One entry per shard.
  virtual StatusOr<std::vector<ShardCheckpoint>> SaveRows(const std::string& root,
                                                          const std::string& name,
                                                          int64_t since_step) = 0;
};

// In-process: the work is done inside Pull/Push; Wait returns its status.
// `optimizer` is the table's (it sets the row state a checkpoint stores).
std::unique_ptr<EmbeddingStore> NewTableStore(SparseTable* table, SparseOptimizerKind optimizer);
// Through the parameter servers. `client` must outlive the store.
// Checkpoints wait up to checkpoint_timeout_ms for the shards' row files.
std::unique_ptr<EmbeddingStore> NewPsClientStore(PsClient* client, int64_t checkpoint_timeout_ms);

}  // namespace dips

#endif  // DIPS_WORKER_TRAIN_EMBEDDING_STORE_H_
