// Opening a server shard's table from a checkpoint (docs/checkpoints.md,
// "Restoring"). Two ways, picked here:
//   - the shard's own RocksDB checkpoint becomes its disk tier (SST files
//     hard-linked into the live directory): when the table is tiered and
//     the chain is one checkpoint written by as many shards, with a RocksDB
//     checkpoint of this shard's index and table;
//   - otherwise the table opens empty and every row file and RocksDB shard
//     of the chain is imported, keeping the keys this shard owns under the
//     job's partitioner (any number of writing shards, any table kind).
#ifndef DIPS_PS_CHECKPOINT_SHARD_RESTORE_H_
#define DIPS_PS_CHECKPOINT_SHARD_RESTORE_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "common/status.h"
#include "ps/checkpoint/checkpoint.h"
#include "ps/sparse_optimizer.h"
#include "ps/sparse_table.h"
#include "ps/table_factory.h"

namespace dips {

struct ShardRestoreOptions {
  // The verified checkpoint (its files' CRCs were checked, e.g. by the rank
  // that chose it); null: a fresh, empty table.
  const CheckpointChain* chain = nullptr;
  SparseOptimizerKind optimizer = SparseOptimizerKind::kAdam;  // the table's
  uint32_t shard_index = 0;  // this job's shard and shard count
  uint32_t num_shards = 1;
  // Whether this shard owns `key` under the job's partitioner; empty: all.
  std::function<bool(uint64_t)> owns;
};

struct RestoredShard {
  std::unique_ptr<SparseTable> table;
  uint64_t rows = 0;            // rows the table holds after the restore
  bool opened_rocksdb = false;  // the first way above
  double seconds = 0.0;
};

// Opens the table `options` describe and restores it. Errors: those of
// OpenShardTable, RocksTier::SeedFromCheckpoint and RestoreRows.
StatusOr<RestoredShard> OpenRestoredShard(ShardTableOptions options,
                                          const ShardRestoreOptions& restore);

}  // namespace dips

#endif  // DIPS_PS_CHECKPOINT_SHARD_RESTORE_H_
