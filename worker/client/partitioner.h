// Partitioner: which server shard owns a key. The client asks it for every
// key it sends; a job may replace it (e.g. to weigh shards by capacity) as
// long as every worker of the job uses the same one.
//
// Thread-safety: implementations must be safe to call concurrently (they are
// pure functions of the key).
#ifndef DIPS_WORKER_CLIENT_PARTITIONER_H_
#define DIPS_WORKER_CLIENT_PARTITIONER_H_

#include <cstdint>

namespace dips {

class Partitioner {
 public:
  virtual ~Partitioner() = default;
  virtual int num_shards() const = 0;
  // The shard of `key`, in [0, num_shards()).
  virtual int Shard(uint64_t key) const = 0;
};

// shard = a salted 64-bit mix of the key, scaled to [0, S) by a
// multiply-high. Consecutive or structured keys spread evenly; no key ranges.
// The salt keeps the shard independent of the Mix64(key) hash the server's
// table uses for its own slots and stripes: without it, the keys of one
// shard would all share low hash bits and crowd a subset of table slots.
class HashPartitioner : public Partitioner {
 public:
  explicit HashPartitioner(int num_shards);  // num_shards >= 1 (CHECKed)
  int num_shards() const override { return num_shards_; }
  int Shard(uint64_t key) const override;

 private:
  const int num_shards_;
};

}  // namespace dips

#endif  // DIPS_WORKER_CLIENT_PARTITIONER_H_
