// RowStore: inserts, finds and erases against a std::map model, slot reuse
// and the byte accounting the tiered table's budget relies on.
#include "ps/row_store.h"

#include <cstring>
#include <map>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/feature_key.h"

namespace dips {
namespace {

constexpr size_t kRowBytes = 16;

TEST(RowStoreTest, RandomInsertEraseMatchesAMap) {
  // Few distinct keys and many operations: long probe runs, erases in the
  // middle of runs and wrap-around at the end of the index all happen.
  RowStore store(kRowBytes, /*rows_per_chunk=*/8);
  std::map<uint64_t, uint64_t> model;  // key -> value stored in the row
  std::mt19937_64 rng(7);
  for (int op = 0; op < 200000; ++op) {
    const uint64_t key = rng() % 3000;
    const uint64_t hash = Mix64(key);
    const bool present = model.count(key) > 0;
    if (rng() % 3 == 0) {
      EXPECT_EQ(present, store.Erase(key, hash)) << key;
      model.erase(key);
    } else if (!present) {
      uint8_t* row = store.Insert(key, hash);
      ASSERT_NE(nullptr, row);
      for (size_t b = 0; b < kRowBytes; ++b) ASSERT_EQ(0, row[b]) << "row not zeroed";
      const uint64_t value = rng();
      std::memcpy(row, &value, 8);
      model[key] = value;
    }
    if (op % 10000 == 0) {
      ASSERT_EQ(model.size(), store.size());
      for (const auto& [k, v] : model) {
        const uint8_t* row = store.Find(k, Mix64(k));
        ASSERT_NE(nullptr, row) << k;
        uint64_t got;
        std::memcpy(&got, row, 8);
        ASSERT_EQ(v, got) << k;
      }
    }
  }
  size_t visited = 0;
  store.ForEach([&](uint64_t key, const uint8_t* row) {
    ++visited;
    uint64_t got;
    std::memcpy(&got, row, 8);
    EXPECT_EQ(model.at(key), got);
  });
  EXPECT_EQ(model.size(), visited);
  for (uint64_t k = 0; k < 3000; ++k) {
    EXPECT_EQ(model.count(k) > 0, store.Find(k, Mix64(k)) != nullptr) << k;
  }
}

TEST(RowStoreTest, ErasedSlotsAreReusedSoMemoryStaysFlat) {
  RowStore store(kRowBytes, 4);
  for (uint64_t k = 0; k < 100; ++k) ASSERT_NE(nullptr, store.Insert(k, Mix64(k)));
  const size_t bytes = store.bytes();
  const size_t slots = store.slot_limit();
  // Churn: replace every row many times over; the store never holds more
  // than 100 rows, so it must not allocate more.
  for (uint64_t round = 1; round <= 50; ++round) {
    for (uint64_t k = 0; k < 100; ++k) {
      const uint64_t old_key = (round - 1) * 100 + k, new_key = round * 100 + k;
      ASSERT_TRUE(store.Erase(old_key, Mix64(old_key)));
      ASSERT_NE(nullptr, store.Insert(new_key, Mix64(new_key)));
    }
  }
  EXPECT_EQ(100u, store.size());
  EXPECT_EQ(slots, store.slot_limit());
  EXPECT_EQ(bytes, store.bytes());
}

TEST(RowStoreTest, BytesForPredictsBytes) {
  for (size_t chunk : {1, 5, 256}) {
    RowStore store(24, chunk);
    for (uint64_t k = 1; k <= 5000; ++k) {
      ASSERT_NE(nullptr, store.Insert(k, Mix64(k)));
      ASSERT_EQ(RowStoreBytesFor(k, 24, chunk), store.bytes()) << k << " rows, chunk " << chunk;
    }
  }
}

TEST(RowStoreTest, EntryAtVisitsEveryRowOnce) {
  RowStore store(kRowBytes);
  for (uint64_t k = 0; k < 1000; ++k) store.Insert(k * 7, Mix64(k * 7));
  std::map<uint64_t, int> seen;
  for (size_t pos = 0; pos < store.index_positions(); ++pos) {
    uint64_t key;
    uint32_t slot;
    if (!store.EntryAt(pos, &key, &slot)) continue;
    ++seen[key];
    EXPECT_EQ(store.Find(key, Mix64(key)), store.RowAt(slot));
  }
  EXPECT_EQ(1000u, seen.size());
  for (const auto& [key, n] : seen) EXPECT_EQ(1, n) << key;
}

TEST(RowStoreTest, VisitBatchSeesRowsInsertedByEarlierVisits) {
  // A batch longer than the prefetch distance, in a given order, with
  // present keys, absent keys and an absent key repeated far apart: every
  // visit gets the key's slot at its own moment, so the repeat finds the row
  // the first visit inserted.
  RowStore store(kRowBytes, /*rows_per_chunk=*/4);
  std::vector<uint64_t> keys;
  for (uint64_t k = 0; k < 40; ++k) keys.push_back(k * 7 + 1);
  for (uint64_t k = 0; k < 40; k += 2) ASSERT_NE(nullptr, store.Insert(keys[k], Mix64(keys[k])));
  keys.push_back(keys[3]);   // absent at the start; inserted by the visit of index 3
  keys.push_back(keys[10]);  // present from the start
  std::vector<uint64_t> hashes;
  for (uint64_t k : keys) hashes.push_back(Mix64(k));
  std::vector<uint32_t> order;
  for (uint32_t i = 0; i < keys.size(); ++i) order.push_back((i * 17) % keys.size());
  std::vector<uint32_t> visited, slots;
  store.VisitBatch(keys.data(), hashes.data(), order.data(), order.size(), kRowBytes, &slots,
                   [&](uint32_t i, uint32_t slot) {
                     visited.push_back(i);
                     EXPECT_EQ(store.FindSlot(keys[i], hashes[i]), slot) << i;
                     if (slot == RowStore::kNoSlot) {
                       ASSERT_NE(RowStore::kNoSlot, store.InsertSlot(keys[i], hashes[i]));
                     }
                   });
  EXPECT_EQ(order, visited);
  EXPECT_EQ(40u, store.size());  // 20 present + 20 inserted, the repeats found
}

}  // namespace
}  // namespace dips
