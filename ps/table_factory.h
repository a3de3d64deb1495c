// OpenShardTable: the one place that picks a shard's SparseTable
// implementation from options — the memory table, or the tiered table
// (memory under a budget over RocksDB) when a memory budget is set. The
// server binaries turn their flags into ShardTableOptions (docs/tables.md
// lists the flags).
#ifndef DIPS_PS_TABLE_FACTORY_H_
#define DIPS_PS_TABLE_FACTORY_H_

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "ps/rocksdb_tier.h"
#include "ps/sparse_table.h"

namespace dips {

struct ShardTableOptions {
  SparseTableOptions table;
  // 0: every row in memory (no RocksDB). Otherwise the tiered table with at
  // most this many bytes of rows in memory and the rest in RocksDB under
  // rocksdb.dir. 256 stripes (table.num_stripes) suit the tiered table.
  uint64_t memory_budget_bytes = 0;
  RocksTierOptions rocksdb;  // used only with a memory budget; dir required then
  std::string table_name = "embeddings";  // the table's column family
};

// Errors: InvalidArgument for bad options; IOError/Corruption from RocksDB.
StatusOr<std::unique_ptr<SparseTable>> OpenShardTable(const ShardTableOptions& options);

}  // namespace dips

#endif  // DIPS_PS_TABLE_FACTORY_H_
