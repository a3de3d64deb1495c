#include "worker/client/partitioner.h"

#include <glog/logging.h>

#include "common/feature_key.h"

namespace dips {
namespace {
// Any odd constant unrelated to Mix64's multipliers; fixed forever, since
// changing it moves every key to another shard (and breaks checkpoints).
constexpr uint64_t kShardSalt = 0x9e3779b97f4a7c15ULL;
}  // namespace

HashPartitioner::HashPartitioner(int num_shards) : num_shards_(num_shards) {
  CHECK_GE(num_shards, 1);
}

int HashPartitioner::Shard(uint64_t key) const {
  const uint64_t h = Mix64(key ^ kShardSalt);
  // Lemire's multiply-high range reduction: uses the high bits, no division.
  return static_cast<int>((static_cast<unsigned __int128>(h) * num_shards_) >> 64);
}

}  // namespace dips
