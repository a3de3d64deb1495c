#include "ps/table_factory.h"

#include "ps/tiered_table.h"

namespace dips {

StatusOr<std::unique_ptr<SparseTable>> OpenShardTable(const ShardTableOptions& options) {
  if (options.memory_budget_bytes == 0) return SparseTable::Create(options.table);
  TieredTableOptions tiered;
  tiered.table = options.table;
  tiered.memory_budget_bytes = options.memory_budget_bytes;
  tiered.column_family = options.table_name;
  // Check the table before touching the directory (Open may wipe it).
  RETURN_IF_ERROR(ValidateTieredTableOptions(tiered));
  ASSIGN_OR_RETURN(std::shared_ptr<RocksTier> tier, RocksTier::Open(options.rocksdb));
  ASSIGN_OR_RETURN(std::unique_ptr<TieredSparseTable> table,
                   TieredSparseTable::Open(tiered, std::move(tier)));
  return std::unique_ptr<SparseTable>(std::move(table));
}

}  // namespace dips
