#include "ps/checkpoint/shard_restore.h"

#include <chrono>

#include "ps/rocksdb_tier.h"

namespace dips {
namespace {

// The RocksDB checkpoint the shard can open as its disk tier as it is, or
// null (see the header).
const ckpt::RocksdbShard* OwnRocksdbShard(const ShardTableOptions& table,
                                          const ShardRestoreOptions& restore) {
  const CheckpointChain& chain = *restore.chain;
  if (table.memory_budget_bytes == 0 || chain.names.size() != 1 ||
      chain.newest().num_shards() != restore.num_shards) {
    return nullptr;
  }
  for (const ckpt::RocksdbShard& shard : chain.newest().rocksdb_shards()) {
    if (shard.shard() == restore.shard_index && shard.column_family() == table.table_name) {
      return &shard;
    }
  }
  return nullptr;
}

}  // namespace

StatusOr<RestoredShard> OpenRestoredShard(ShardTableOptions options,
                                          const ShardRestoreOptions& restore) {
  const auto start = std::chrono::steady_clock::now();
  RestoredShard restored;
  const ckpt::RocksdbShard* own =
      restore.chain != nullptr ? OwnRocksdbShard(options, restore) : nullptr;
  if (own != nullptr) {
    RETURN_IF_ERROR(RocksTier::SeedFromCheckpoint(
        JoinPath(restore.chain->newest_dir(), own->dir()), options.rocksdb.dir));
    options.rocksdb.keep_existing = true;
    options.rocksdb.seeded_from_checkpoint = true;
    restored.opened_rocksdb = true;
  }
  ASSIGN_OR_RETURN(restored.table, OpenShardTable(options));
  if (restore.chain != nullptr && own == nullptr) {
    RETURN_IF_ERROR(
        RestoreRows(*restore.chain, restore.optimizer, restore.owns, restored.table.get())
            .status());
  }
  restored.rows = restored.table->Stats().rows;
  restored.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return restored;
}

}  // namespace dips
